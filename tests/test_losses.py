"""Losses against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from graphrec.errors import UnknownNameError
from graphrec.losses import LOSSES, bce_loss, bpr_loss, get_loss, info_nce, l2_penalty


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


def _info_nce_reference(a: torch.Tensor, b: torch.Tensor, tau: float) -> float:
    """Element by element: mean_i -log(exp(cos(a_i, b_i)/tau) / sum_j exp(cos(a_i, b_j)/tau))."""

    def cos(x: torch.Tensor, y: torch.Tensor) -> float:
        return float((x * y).sum()) / (math.sqrt(float((x * x).sum())) * math.sqrt(float((y * y).sum())))

    n = a.shape[0]
    total = 0.0
    for i in range(n):
        denominator = sum(math.exp(cos(a[i], b[j]) / tau) for j in range(n))
        total += -math.log(math.exp(cos(a[i], b[i]) / tau) / denominator)
    return total / n


@pytest.mark.parametrize("tau", [0.15, 0.2, 1.0])
def test_info_nce_matches_the_element_wise_reference(tau: float) -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 4, generator=gen, dtype=torch.float64), torch.randn(6, 4, generator=gen, dtype=torch.float64)
    assert info_nce(a, b, tau).item() == pytest.approx(_info_nce_reference(a, b, tau), rel=1e-10)
    # scale-invariant per row (cosine); aligned views score lower than views whose positives are shifted
    assert info_nce(3 * a, 0.5 * b, tau).item() == pytest.approx(info_nce(a, b, tau).item(), rel=1e-10)
    eye = torch.eye(6, dtype=torch.float64)
    assert info_nce(eye, eye, tau).item() == pytest.approx(_info_nce_reference(eye, eye, tau), rel=1e-10)
    assert info_nce(eye, eye, tau).item() < info_nce(eye, eye.roll(1, dims=0), tau).item()


@pytest.mark.parametrize("chunk_rows", [1, 2, 5, 1024])
def test_info_nce_in_blocks_equals_the_dense_cross_entropy(chunk_rows: int) -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: info_nce(x, y, 0.2, chunk_rows), (a, b))
    dense_a, dense_b = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    logits = torch.nn.functional.normalize(dense_a, dim=1) @ torch.nn.functional.normalize(dense_b, dim=1).T / 0.2
    dense = torch.nn.functional.cross_entropy(logits, torch.arange(5))
    dense.backward()
    blocked = info_nce(a, b, 0.2, chunk_rows)
    blocked.backward()
    torch.testing.assert_close(blocked, dense)
    torch.testing.assert_close(a.grad, dense_a.grad)
    torch.testing.assert_close(b.grad, dense_b.grad)


def test_info_nce_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match=r"expected two views of the same shape \(n, d\); got \(3, 2\) and \(2, 2\)"):
        info_nce(torch.ones(3, 2), torch.ones(2, 2), 0.2)
    with pytest.raises(ValueError, match=r"temperature must be positive, got 0\.0"):
        info_nce(torch.ones(3, 2), torch.ones(3, 2), 0.0)
    with pytest.raises(ValueError, match="chunk_rows must be at least 1, got 0"):
        info_nce(torch.ones(3, 2), torch.ones(3, 2), 0.2, chunk_rows=0)
