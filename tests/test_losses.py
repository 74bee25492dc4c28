"""Losses against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from graphrec.errors import UnknownNameError
from graphrec.losses import LOSSES, bce_loss, bpr_loss, get_loss, l2_penalty


def _sp(x: float) -> float:
    return math.log1p(math.exp(x))


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    user = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    pos = torch.tensor([[2.0, 1.0], [1.0, 1.0]])  # scores 2, 2
    neg = torch.tensor([[[1.0, 5.0], [-1.0, 0.0]], [[0.0, 0.5], [3.0, -1.0]]])  # scores (1, -1), (1, -2)
    return user, pos, neg


def test_bpr_hand_computed(batch) -> None:
    user, pos, neg = batch
    expected = (_sp(1 - 2) + _sp(-1 - 2) + _sp(1 - 2) + _sp(-2 - 2)) / 4
    assert bpr_loss(user, pos, neg).item() == pytest.approx(expected, rel=1e-6)
    # one negative per user as (B, d) equals (B, 1, d); -log sigmoid(pos - neg) is the same thing
    single = bpr_loss(user, pos, neg[:, 0])
    assert single.item() == pytest.approx((_sp(-1) + _sp(-1)) / 2, rel=1e-6)
    assert torch.equal(single, bpr_loss(user, pos, neg[:, :1]))
    assert single.item() == pytest.approx(-torch.log(torch.sigmoid(torch.tensor([1.0, 1.0]))).mean().item())


def test_bce_hand_computed(batch) -> None:
    user, pos, neg = batch
    expected = (_sp(-2) + _sp(-2)) / 2 + (_sp(1) + _sp(-1) + _sp(1) + _sp(-2)) / 4
    assert bce_loss(user, pos, neg).item() == pytest.approx(expected, rel=1e-6)


def test_losses_are_stable_and_differentiable() -> None:
    user = torch.full((3, 4), 30.0, requires_grad=True)
    pos, neg = torch.full((3, 4), -30.0), torch.full((3, 2, 4), 30.0)
    for fn in (bpr_loss, bce_loss):
        loss = fn(user, pos, neg)
        assert torch.isfinite(loss)
        loss.backward()
        assert torch.isfinite(user.grad).all()
        user.grad = None


def test_shape_mismatch_raises(batch) -> None:
    user, pos, neg = batch
    with pytest.raises(ValueError):
        bpr_loss(user, pos[:1], neg)
    with pytest.raises(ValueError):
        bce_loss(user, pos, neg[..., :1])


def test_l2_penalty_hand_computed() -> None:
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0], [4.0]])
    assert l2_penalty(a, b, batch_size=2).item() == pytest.approx(0.5 * (1 + 4 + 9 + 16) / 2)
    assert l2_penalty(batch_size=4).item() == 0.0


def test_registry() -> None:
    assert LOSSES == {"bpr": bpr_loss, "bce": bce_loss}
    assert get_loss("bce") is bce_loss
    with pytest.raises(UnknownNameError) as info:
        get_loss("x")
    assert str(info.value) == "unknown loss 'x'; choose one of: bce, bpr"
