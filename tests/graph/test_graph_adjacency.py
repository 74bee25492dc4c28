"""Sparse adjacency construction and the symmetric propagation's custom backward."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.graph import (
    SymmetricEdgeDropout,
    bipartite_adjacency,
    csr_tensor,
    normalized_adjacency,
    propagate,
    symmetric_pair_ids,
    to_torch_csr,
)


def tiny_train(num_users: int = 5, num_items: int = 6, density: float = 0.4, seed: int = 0) -> sp.csr_matrix:
    """A random binary user × item matrix with user 4 and item 5 isolated."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((num_users, num_items)) < density).astype(np.float32)
    dense[4, :] = 0
    dense[:, 5] = 0
    dense[0, 0] = 1
    return sp.csr_matrix(dense)


def dense_normalized(train: sp.csr_matrix) -> np.ndarray:
    """Reference Ã = D^-1/2 A D^-1/2 computed densely in float64."""
    r = train.toarray().astype(np.float64)
    u, i = r.shape
    a = np.zeros((u + i, u + i))
    a[:u, u:] = r
    a[u:, :u] = r.T
    deg = a.sum(1)
    with np.errstate(divide="ignore"):
        inv = np.where(deg > 0, deg**-0.5, 0.0)
    return inv[:, None] * a * inv[None, :]


def test_bipartite_adjacency_blocks() -> None:
    train = tiny_train()
    a = bipartite_adjacency(train)
    assert sp.isspmatrix_csr(a) and a.dtype == np.float32 and a.shape == (11, 11)
    dense = a.toarray()
    np.testing.assert_array_equal(dense[:5, 5:], train.toarray())
    np.testing.assert_array_equal(dense[5:, :5], train.toarray().T)
    assert not dense[:5, :5].any() and not dense[5:, 5:].any()


def test_normalized_adjacency_matches_dense_reference() -> None:
    train = tiny_train()
    a = normalized_adjacency(train)
    assert a.dtype == np.float32 and a.has_sorted_indices
    dense = a.toarray()
    np.testing.assert_allclose(dense, dense_normalized(train), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(dense, dense.T)
    assert np.isfinite(a.data).all()
    assert not dense[4].any() and not dense[5 + 5].any()  # isolated user 4 and item 5: zero rows


def test_to_torch_csr_round_trip() -> None:
    a = normalized_adjacency(tiny_train())
    t = to_torch_csr(a)
    assert t.layout == torch.sparse_csr and t.dtype == torch.float32
    assert t.crow_indices().dtype == torch.int32
    np.testing.assert_array_equal(t.to_dense().numpy(), a.toarray())


def test_custom_backward_matches_autograd_coo() -> None:
    torch.manual_seed(0)
    a = normalized_adjacency(tiny_train(8, 9, seed=3)).astype(np.float64)
    csr = csr_tensor(torch.from_numpy(a.indptr), torch.from_numpy(a.indices), torch.from_numpy(a.data), a.shape)
    coo = torch.from_numpy(a.toarray()).to_sparse_coo()
    x = torch.randn(a.shape[0], 4, dtype=torch.float64)
    weights = torch.randn(a.shape[0], 4, dtype=torch.float64)
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    y1 = propagate(csr, propagate(csr, x1))  # two layers: the backward goes through both
    y2 = torch.sparse.mm(coo, torch.sparse.mm(coo, x2))
    (y1 * weights).sum().backward()
    (y2 * weights).sum().backward()
    torch.testing.assert_close(y1, y2, rtol=0, atol=1e-12)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=1e-6)
    assert torch.autograd.gradcheck(lambda v: propagate(csr, v), (x.clone().requires_grad_(),))


def test_propagate_rejects_trainable_matrix() -> None:
    adj = torch.eye(3).to_sparse_csr().requires_grad_()
    with pytest.raises(ValueError, match="requires grad"):
        propagate(adj, torch.ones(3, 1))


def test_symmetric_pair_ids_pairs_mirrored_entries() -> None:
    a = normalized_adjacency(tiny_train())
    ids, count = symmetric_pair_ids(a)
    assert count == a.nnz // 2
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    pos = {(r, c): k for k, (r, c) in enumerate(zip(rows, a.indices, strict=True))}
    assert all(ids[k] == ids[pos[(c, r)]] for (r, c), k in pos.items())


def test_edge_dropout_symmetric_rescaled_and_off_in_eval() -> None:
    a = normalized_adjacency(tiny_train(20, 30, density=0.3))
    drop = SymmetricEdgeDropout(a, p=0.5)
    torch.manual_seed(0)
    dropped = drop().to_dense()  # train mode by default
    torch.testing.assert_close(dropped, dropped.T, rtol=0, atol=0)
    full = torch.from_numpy(a.toarray())
    kept = dropped != 0
    assert 0 < int(kept.sum()) < a.nnz
    torch.testing.assert_close(dropped[kept], 2.0 * full[kept])
    drop.eval()
    torch.testing.assert_close(drop().to_dense(), full, rtol=0, atol=0)
