"""Training losses over dot-product scores, and LightGCN's L2 penalty.

With ``s(u, v) = <e_u, e_v>``, a batch of B users, their positives and N negatives each (``neg_e`` of shape
``(B, N, d)``; ``(B, d)`` means N = 1):

* ``bpr_loss = mean_{b, n} softplus(s(u_b, neg_bn) - s(u_b, pos_b))``, i.e. the mean of
  ``-log sigmoid(s_pos - s_neg)`` over all B × N (positive, negative) pairs.
* ``bce_loss = mean_b softplus(-s(u_b, pos_b)) + mean_{b, n} softplus(s(u_b, neg_bn))``: binary cross-entropy
  with logits, label 1 for positives and 0 for negatives, averaged separately over the B positives and the
  B × N negatives and then added (so the two classes weigh the same whatever N is).
* ``l2_penalty(*tensors, batch_size) = 0.5 * sum_t ||t||_F^2 / batch_size`` (LightGCN's ``reg_loss``).

Softplus is used throughout, so every loss is numerically stable for large scores.
"""

from __future__ import annotations

from collections.abc import Callable

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


LOSSES: dict[str, LossFn] = {"bpr": bpr_loss, "bce": bce_loss}


def get_loss(name: str) -> LossFn:
    """The loss function registered under `name`."""
    try:
        return LOSSES[name]
    except KeyError:
        raise UnknownNameError(f"unknown loss '{name}'; choose one of: {', '.join(sorted(LOSSES))}") from None
