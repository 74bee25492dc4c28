"""Adam that updates only the embedding rows a step touched (``train.sparse_updates``), so a sampled step costs
O(its computation graph), not O(users + items).

With dense gradients torch's Adam reads and writes every row of both tables on every step: on a graph with millions
of nodes that is the step's largest cost (BENCHMARKS.md, "Scale: sampled LightGCN"), and it makes an epoch grow
with edges × nodes. Here a sparse (COO) gradient — from ``F.embedding(..., sparse=True)`` — updates the first and
second moments and the parameter only on its rows; rows the step did not touch keep their moments unchanged
("lazy" Adam, the rule of ``torch.optim.SparseAdam``). Bias correction uses the parameter's step count. Dense
gradients (NGCF's weight matrices) get the ordinary Adam update with L2 weight decay, the same arithmetic as
``torch.optim.Adam`` (tested), so one optimizer, one state dict, serves both kinds of parameter.

When every row appears in every step, lazy and dense Adam coincide (tested); otherwise they differ by design: a row's
moments decay only on the steps that touch it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class LazyAdam(torch.optim.Optimizer):
    """Adam with row-wise (lazy) updates for sparse gradients and the usual update for dense ones."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0 or eps <= 0 or not all(0.0 <= b < 1.0 for b in betas) or weight_decay < 0:
            raise ValueError(
                f"LazyAdam: expected lr > 0, eps > 0, betas in [0, 1) and weight_decay ≥ 0, "
                f"got lr={lr}, eps={eps}, betas={betas}, weight_decay={weight_decay}"
            )
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["step"] += 1
                if param.grad.is_sparse:
                    if group["weight_decay"]:
                        raise ValueError(
                            "LazyAdam: weight decay with sparse gradients would decay only the "
                            "touched rows; put embedding tables in a group with weight_decay = 0"
                        )
                    _sparse_update(param, param.grad, state, group)
                else:
                    _dense_update(param, param.grad, state, group)
        return loss


def _corrections(state: dict[str, Any], group: dict[str, Any]) -> tuple[float, float]:
    """Step size and sqrt of the second bias correction after `state['step']` steps."""
    beta1, beta2 = group["betas"]
    step = float(state["step"])
    return group["lr"] / (1 - beta1**step), (1 - beta2**step) ** 0.5


def _dense_update(param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
    beta1, beta2 = group["betas"]
    if group["weight_decay"]:
        grad = grad.add(param, alpha=group["weight_decay"])
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step_size, root_correction = _corrections(state, group)
    denom = (exp_avg_sq.sqrt() / root_correction).add_(group["eps"])
    param.addcdiv_(exp_avg, denom, value=-step_size)


def _sparse_update(param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
    beta1, beta2 = group["betas"]
    grad = grad.coalesce()  # one row per index: repeated lookups of a row are summed, as in the dense gradient
    rows, values = grad.indices()[0], grad.values()
    exp_avg = state["exp_avg"].index_select(0, rows).lerp_(values, 1 - beta1)
    exp_avg_sq = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
    state["exp_avg"].index_copy_(0, rows, exp_avg)
    state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
    step_size, root_correction = _corrections(state, group)
    denom = (exp_avg_sq.sqrt() / root_correction).add_(group["eps"])
    param.index_add_(0, rows, exp_avg / denom, alpha=-step_size)
