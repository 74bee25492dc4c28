"""LazyAdam: torch's Adam on dense gradients, dense Adam when every row is touched, untouched rows left alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphrec.training.lazy_adam import LazyAdam


def _steps(optimizer_cls: type, rows_per_step: list[torch.Tensor], sparse: bool, **options: float) -> torch.Tensor:
    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.randn(6, 3))
    target = torch.randn(6, 3)
    optimizer = optimizer_cls([table], lr=0.05, **options)
    for rows in rows_per_step:
        optimizer.zero_grad()
        picked = F.embedding(rows, table, sparse=sparse)
        (picked - target[rows]).pow(2).sum().backward()
        optimizer.step()
    return table.detach()


def test_dense_gradients_match_torch_adam() -> None:
    rows = [torch.tensor([0, 2, 2, 5]), torch.tensor([1, 3]), torch.tensor([4, 0, 1])]
    for decay in (0.0, 0.01):
        expected = _steps(torch.optim.Adam, rows, sparse=False, weight_decay=decay)
        got = _steps(LazyAdam, rows, sparse=False, weight_decay=decay)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)


def test_sparse_equals_dense_when_every_row_is_touched() -> None:
    rows = [torch.tensor([5, 4, 3, 2, 1, 0, 0]), torch.arange(6), torch.tensor([0, 1, 2, 3, 4, 5, 5, 5])]
    torch.testing.assert_close(
        _steps(LazyAdam, rows, sparse=True), _steps(torch.optim.Adam, rows, sparse=False), rtol=1e-6, atol=1e-7
    )


def test_sparse_leaves_untouched_rows_and_their_moments() -> None:
    torch.manual_seed(0)
    start = torch.randn(6, 3)
    rows = [torch.tensor([0, 1]), torch.tensor([1, 2])]
    got = _steps(LazyAdam, rows, sparse=True)
    torch.testing.assert_close(got[3:], start[3:])  # never touched: unchanged
    # Row 0 was touched once, at step 1; dense Adam would keep moving it at step 2 on its momentum.
    dense = _steps(torch.optim.Adam, rows, sparse=False)
    assert not torch.allclose(got[0], dense[0])
    only_first = _steps(LazyAdam, rows[:1], sparse=True)
    torch.testing.assert_close(got[0], only_first[0])


def test_bad_options_and_sparse_weight_decay_are_refused() -> None:
    with pytest.raises(ValueError, match="LazyAdam: expected lr > 0"):
        LazyAdam([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    with pytest.raises(ValueError, match="weight decay with sparse gradients"):
        _steps(LazyAdam, [torch.tensor([0])], sparse=True, weight_decay=0.1)
