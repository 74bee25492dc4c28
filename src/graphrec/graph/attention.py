r"""Edge attention on a sparse graph in CSR form: GAT's per-node softmax and attention-weighted sum.

For edges e = (v ← u) of an :class:`EdgeList` (v = ``row[e]`` receives, u = ``col[e]`` sends) and H heads:

.. math::
    s_e = \mathrm{LeakyReLU}(\mathrm{dst}_v + \mathrm{src}_u),\quad
    \alpha_e = \frac{\exp s_e}{\sum_{e' : \mathrm{row}[e'] = v} \exp s_{e'}},\quad
    \mathrm{out}_v = \sum_{e : \mathrm{row}[e] = v} \alpha_e\, z_u

per head, where dst_v = a_dst · z_v and src_u = a_src · z_u split GAT's a^T [W h_v ‖ W h_u]. The softmax is gathers,
scatters and element-wise ops over the (E, H) scores (vectorised; each row's maximum is subtracted, taken without
gradient since softmax does not change under a per-row shift). The weighted sum is one CSR SpMM per head with α as
the values (:class:`AttentionSpMM`): its backward multiplies by the transpose, whose edge order is computed once
per graph (:meth:`EdgeList.from_csr`), and gets ∂α_e = g_v · z_u by a gather — measured about twice as fast on CPU
as gathering the (E, H, C) messages and ``index_add``-ing them, the path PyG takes without its compiled extensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphrec.graph.adjacency import csr_tensor


@dataclass
class EdgeList:
    """Edges in CSR order over a (num_dst, num_src) matrix, with the transpose's CSR order (`perm`: the edge ids in
    transpose order; duplicates kept), all int64 tensors."""

    crow: torch.Tensor
    col: torch.Tensor
    row: torch.Tensor
    num_src: int
    t_crow: torch.Tensor
    t_col: torch.Tensor
    perm: torch.Tensor

    @property
    def num_dst(self) -> int:
        return len(self.crow) - 1

    @classmethod
    def from_csr(cls, crow: np.ndarray, col: np.ndarray, num_src: int) -> EdgeList:
        """From CSR arrays (rows in order; columns any order, repeats allowed): O(E log E) numpy, once per graph."""
        crow, col = np.asarray(crow, dtype=np.int64), np.asarray(col, dtype=np.int64)
        row = np.repeat(np.arange(len(crow) - 1, dtype=np.int64), np.diff(crow))
        perm = np.lexsort((row, col))  # by sender, then receiver
        t_crow = np.r_[0, np.cumsum(np.bincount(col, minlength=num_src))].astype(np.int64)
        tensors = (torch.from_numpy(a) for a in (crow, col, row, t_crow, row[perm], perm))
        crow_t, col_t, row_t, t_crow_t, t_col_t, perm_t = tensors
        return cls(crow_t, col_t, row_t, num_src, t_crow_t, t_col_t, perm_t)


def edge_softmax(scores: torch.Tensor, edges: EdgeList) -> torch.Tensor:
    """Softmax of `scores` (E, H) over the edges of each receiving row."""
    index = edges.row.unsqueeze(1).expand_as(scores)
    shape = (edges.num_dst, scores.shape[1])
    peak = scores.new_full(shape, float("-inf")).scatter_reduce(0, index, scores.detach(), "amax", include_self=True)
    weight = torch.exp(scores - peak.gather(0, index))
    total = scores.new_zeros(shape).scatter_add(0, index, weight)
    return weight / total.gather(0, index)


class AttentionSpMM(torch.autograd.Function):
    """out[:, h] = A_h z[:, h] with A_h the CSR matrix of `edges` holding α[:, h]; gradients for α and z."""

    @staticmethod
    def forward(ctx: Any, alpha: torch.Tensor, z: torch.Tensor, edges: EdgeList) -> torch.Tensor:  # FunctionCtx
        ctx.edges = edges
        ctx.save_for_backward(alpha, z)
        shape = (edges.num_dst, edges.num_src)
        heads = [
            torch.sparse.mm(csr_tensor(edges.crow, edges.col, alpha[:, h].contiguous(), shape), z[:, h])
            for h in range(z.shape[1])
        ]
        return torch.stack(heads, dim=1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        alpha, z = ctx.saved_tensors
        edges: EdgeList = ctx.edges
        grad = grad.contiguous()
        grad_alpha = grad_z = None
        if ctx.needs_input_grad[0]:
            grad_alpha = (grad[edges.row] * z[edges.col]).sum(dim=2)
        if ctx.needs_input_grad[1]:
            shape, alpha_t = (edges.num_src, edges.num_dst), alpha[edges.perm]
            heads = [
                torch.sparse.mm(csr_tensor(edges.t_crow, edges.t_col, alpha_t[:, h].contiguous(), shape), grad[:, h])
                for h in range(grad.shape[1])
            ]
            grad_z = torch.stack(heads, dim=1)
        return grad_alpha, grad_z, None


def attend(
    z: torch.Tensor, dst_score: torch.Tensor, src_score: torch.Tensor, edges: EdgeList, slope: float
) -> torch.Tensor:
    """Σ_e α_e z[col[e]] into each receiving row (the formula above): (num_dst, H, C).

    `z` (num_src, H, C) are the transformed senders, `src_score` (num_src, H) their a_src scores, `dst_score`
    (num_dst, H) the receivers' a_dst scores; a row without edges gets zeros."""
    scores = F.leaky_relu(dst_score[edges.row] + src_score[edges.col], negative_slope=slope)
    alpha = edge_softmax(scores, edges)
    out: torch.Tensor = AttentionSpMM.apply(alpha, z, edges)
    return out
