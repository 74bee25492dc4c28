"""Training losses over dot-product scores, and LightGCN's L2 penalty.

With ``s(u, v) = <e_u, e_v>``, a batch of B users, their positives and N negatives each (``neg_e`` of shape
``(B, N, d)``; ``(B, d)`` means N = 1):

* ``bpr_loss = mean_{b, n} softplus(s(u_b, neg_bn) - s(u_b, pos_b))``, i.e. the mean of
  ``-log sigmoid(s_pos - s_neg)`` over all B × N (positive, negative) pairs.
* ``bce_loss = mean_b softplus(-s(u_b, pos_b)) + mean_{b, n} softplus(s(u_b, neg_bn))``: binary cross-entropy
  with logits, label 1 for positives and 0 for negatives, averaged separately over the B positives and the
  B × N negatives and then added (so the two classes weigh the same whatever N is).
* ``l2_penalty(*tensors, batch_size) = 0.5 * sum_t ||t||_F^2 / batch_size`` (LightGCN's ``reg_loss``).
* ``info_nce(a, b, tau) = mean_i -log( exp(c_ii / tau) / sum_j exp(c_ij / tau) )``, ``c_ij = cos(a_i, b_j)``: the
  contrastive loss of SimGCL / XSimGCL between two (n, d) views, row i of `b` the positive of row i of `a` and the
  other rows of `b` its negatives.

Softplus is used throughout, so every loss is numerically stable for large scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from graphrec.errors import UnknownNameError

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _scores(user_e: torch.Tensor, pos_e: torch.Tensor, neg_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive scores (B,), negative scores (B, N)) after checking the shapes."""
    if neg_e.dim() == 2:
        neg_e = neg_e.unsqueeze(1)
    if (
        user_e.dim() != 2
        or pos_e.shape != user_e.shape
        or neg_e.dim() != 3
        or (neg_e.shape[0] != user_e.shape[0] or neg_e.shape[2] != user_e.shape[1])
    ):
        raise ValueError(
            "expected user_e (B, d), pos_e (B, d) and neg_e (B, N, d) or (B, d); got "
            f"{tuple(user_e.shape)}, {tuple(pos_e.shape)} and {tuple(neg_e.shape)}"
        )
    pos = (user_e * pos_e).sum(dim=-1)
    neg = torch.einsum("bd,bnd->bn", user_e, neg_e)
    return pos, neg


def bpr_loss(user_e: torch.Tensor, pos_e: torch.Tensor, neg_e: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean over the batch and the negatives of softplus(s_neg - s_pos)."""
    pos, neg = _scores(user_e, pos_e, neg_e)
    return F.softplus(neg - pos.unsqueeze(1)).mean()


def bce_loss(user_e: torch.Tensor, pos_e: torch.Tensor, neg_e: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits: mean over positives (label 1) plus mean over negatives (label 0)."""
    pos, neg = _scores(user_e, pos_e, neg_e)
    return F.softplus(-pos).mean() + F.softplus(neg).mean()


def l2_penalty(*tensors: torch.Tensor, batch_size: int) -> torch.Tensor:
    """0.5 × the sum of the tensors' squared Frobenius norms, divided by `batch_size` (as LightGCN)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not tensors:
        return torch.zeros(())
    squares = [t.pow(2).sum() for t in tensors]
    return 0.5 * sum(squares[1:], squares[0]) / batch_size


INFO_NCE_CHUNK_ROWS = 1024  # rows of the similarity matrix formed at a time (memory O(rows × n), not O(n²))


class _ScaledInfoNCE(torch.autograd.Function):
    """mean_i (logsumexp_j <a_i, b_j> − <a_i, b_i>) for rows already normalised (and `a` divided by τ), formed
    `chunk` rows at a time in both passes: the n × n logits are never held, the backward recomputes each block.

    d/d logits_ij = (softmax_ij − [i = j]) / n, so grad_a = (P − I) b / n and grad_b = (P − I)ᵀ a / n."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, chunk: int) -> torch.Tensor:
        lse = torch.cat([torch.logsumexp(a[s : s + chunk] @ b.T, dim=1) for s in range(0, len(a), chunk)])
        ctx.save_for_backward(a, b, lse)
        ctx.chunk = chunk
        return (lse - (a * b).sum(dim=1)).mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        a, b, lse = ctx.saved_tensors
        scale = grad / len(a)
        grad_a, grad_b = torch.empty_like(a), torch.zeros_like(b)
        for s in range(0, len(a), ctx.chunk):
            rows = slice(s, s + ctx.chunk)
            p = (a[rows] @ b.T).sub_(lse[rows, None]).exp_().mul_(scale)  # softmax rows × grad / n
            grad_a[rows] = p @ b
            grad_b.addmm_(p.T, a[rows])
        return grad_a - scale * b, grad_b - scale * a, None


def info_nce(
    view_a: torch.Tensor, view_b: torch.Tensor, temperature: float, chunk_rows: int = INFO_NCE_CHUNK_ROWS
) -> torch.Tensor:
    """InfoNCE over cosine similarities: cross-entropy of each row of `view_a` against all rows of `view_b`, the
    same row being the positive. Computed in blocks of `chunk_rows` rows (same value and gradients as the dense
    cross-entropy; memory O(chunk_rows × n))."""
    if view_a.dim() != 2 or view_a.shape != view_b.shape:
        raise ValueError(
            f"expected two views of the same shape (n, d); got {tuple(view_a.shape)} and {tuple(view_b.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    a, b = F.normalize(view_a, dim=1) / temperature, F.normalize(view_b, dim=1)
    loss: torch.Tensor = _ScaledInfoNCE.apply(a, b, chunk_rows)
    return loss


LOSSES: dict[str, LossFn] = {"bpr": bpr_loss, "bce": bce_loss}


def get_loss(name: str) -> LossFn:
    """The loss function registered under `name`."""
    try:
        return LOSSES[name]
    except KeyError:
        raise UnknownNameError(f"unknown loss '{name}'; choose one of: {', '.join(sorted(LOSSES))}") from None
