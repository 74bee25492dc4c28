"""Slow dense reference implementations of the graph models, for comparison in tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def dense_laplacian(train: sp.spmatrix) -> torch.Tensor:
    """Dense Ã = D^-1/2 A D^-1/2 in float64 (isolated nodes: zero rows)."""
    r = torch.from_numpy(sp.csr_matrix(train).toarray()).double()
    u, i = r.shape
    a = torch.zeros(u + i, u + i, dtype=torch.float64)
    a[:u, u:] = r
    a[u:, :u] = r.T
    deg = a.sum(1)
    inv = torch.where(deg > 0, deg.clamp(min=1e-12) ** -0.5, torch.zeros_like(deg))
    return inv[:, None] * a * inv[None, :]


def lightgcn_reference(e0: torch.Tensor, a: torch.Tensor, alpha: list[float]) -> torch.Tensor:
    """Σ_k α_k Ã^k E0 with explicit dense matrix powers."""
    out = torch.zeros_like(e0)
    power = torch.eye(a.shape[0], dtype=a.dtype)
    for weight in alpha:
        out = out + weight * (power @ e0)
        power = a @ power
    return out


def ngcf_reference(
    e0: torch.Tensor, a: torch.Tensor, layers: list[tuple[torch.Tensor, ...]], slope: float
) -> torch.Tensor:
    """Eval-mode NGCF: per layer LeakyReLU((L+I)E W1 + b1 + (LE ⊙ E) W2 + b2), outputs L2-normalised, concatenated.

    `layers` holds (W1, b1, W2, b2) with W as (in, out) matrices (x @ W).
    """
    eye = torch.eye(a.shape[0], dtype=a.dtype)
    e = e0
    outs = [e0]
    for w1, b1, w2, b2 in layers:
        pre = (a + eye) @ e @ w1 + b1 + ((a @ e) * e) @ w2 + b2
        e = torch.where(pre > 0, pre, slope * pre)
        outs.append(e / e.norm(dim=1, keepdim=True).clamp(min=1e-12))
    return torch.cat(outs, dim=1)


def random_train(num_users: int = 7, num_items: int = 9, density: float = 0.35, seed: int = 0) -> sp.csr_matrix:
    """A random binary user × item matrix with one isolated user and one isolated item."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((num_users, num_items)) < density).astype(np.float32)
    dense[-1, :] = 0
    dense[:, -1] = 0
    dense[0, 0] = 1
    return sp.csr_matrix(dense)


def dense_adjacency(train: sp.spmatrix) -> torch.Tensor:
    """Dense binary A = [[0, R], [Rᵀ, 0]] in float64."""
    r = torch.from_numpy((sp.csr_matrix(train).toarray() != 0).astype(np.float64))
    u, i = r.shape
    a = torch.zeros(u + i, u + i, dtype=torch.float64)
    a[:u, u:] = r
    a[u:, :u] = r.T
    return a


def combine_layers(layers: list[torch.Tensor], alpha: list[float]) -> torch.Tensor:
    """Σ_k α_k h^(k)."""
    return sum((w * h for w, h in zip(alpha, layers, strict=True)), torch.zeros_like(layers[0]))


def gcn_reference(h0: torch.Tensor, a: torch.Tensor, weights: list[tuple[torch.Tensor, torch.Tensor]], f, alpha):
    """GCN node by node: h_v' = f(W · (Σ_{u ∈ N(v)} h_u) / |N(v)| + B · h_v), W and B (out, in); layers combined."""
    layers, h = [h0], h0
    for w, b in weights:
        rows = []
        for v in range(h.shape[0]):
            neighbours = [u for u in range(h.shape[0]) if a[v, u] != 0]
            mean = sum((h[u] for u in neighbours), torch.zeros_like(h[v])) / max(len(neighbours), 1)
            rows.append(f(w @ mean + b @ h[v]))
        h = torch.stack(rows)
        layers.append(h)
    return combine_layers(layers, alpha)


def gat_reference(h0: torch.Tensor, a: torch.Tensor, weights: list[tuple[torch.Tensor, ...]], f, alpha, slope: float):
    """GAT node by node and head by head: α_vu = softmax over N(v) ∪ {v} of LeakyReLU(a_dst·z_v + a_src·z_u),
    h_v' = f(concat_h Σ_u α_vu z_u); `weights` (W (out, in), a_src (H, C), a_dst (H, C)) per layer."""
    layers, h = [h0], h0
    for w, att_src, att_dst in weights:
        heads, width = att_src.shape
        z = (h @ w.T).reshape(h.shape[0], heads, width)
        rows = []
        for v in range(h.shape[0]):
            senders = [u for u in range(h.shape[0]) if a[v, u] != 0] + [v]
            parts = []
            for k in range(heads):
                scores = [att_dst[k] @ z[v, k] + att_src[k] @ z[u, k] for u in senders]
                scores = [s if s > 0 else slope * s for s in scores]
                exps = [torch.exp(s) for s in scores]
                total = sum(exps)
                parts.append(sum(e / total * z[u, k] for e, u in zip(exps, senders, strict=True)))
            rows.append(f(torch.cat(parts)))
        h = torch.stack(rows)
        layers.append(h)
    return combine_layers(layers, alpha)
