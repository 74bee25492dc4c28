r"""GAT (Veličković et al., ICLR 2018) on the user–item bipartite graph: multi-head attention over each node's
neighbours and the node itself.

.. math::
    z^{(k)}_{v,h} = W^{(k)}_h h_v^{(k-1)},\qquad
    e_{vu,h} = \mathrm{LeakyReLU}\big(a_h^{(k)\top} [z_{v,h} \,\|\, z_{u,h}]\big),\qquad
    \alpha_{vu,h} = \mathrm{softmax}_{u \in N(v) \cup \{v\}}(e_{vu,h}),

.. math::
    h_v^{(k)} = f\Big(\big\Vert_{h=1}^{H} \sum_{u \in N(v) \cup \{v\}} \alpha_{vu,h}\, z_{u,h}\Big)
    = f\Big(W^{(k)} \big[\textstyle\sum_{u \in N(v)} \alpha_{vu} h_u^{(k-1)} + \alpha_{vv} h_v^{(k-1)}\big]\Big),

H = `model.num_heads` heads of width d / H, concatenated in every layer (so every layer is d → d; the paper averages
its last layer's heads instead), LeakyReLU slope `model.attention_slope` (the paper's 0.2), f `model.activation`
(the paper's ELU), no bias. Layers combined as LightGCN does (z = Σ_k α_k h^{(k)}), scores z_u^T z_i, trained by the
edge objective. The paper's dropout on inputs and attention coefficients is not implemented.

With `model.fanouts` each layer attends over the drawn neighbours (drawn with replacement, so a neighbour drawn
twice counts twice) and the node itself: exactly full GAT when every fan-out is at least the largest degree, and a
consistent but — unlike the mean of GCN / LightGCN — not unbiased estimate below that (the softmax is a ratio).

Implementation: graphrec's own kernel (`graph.attention`: a per-row softmax over the edges of A + I, then one CSR
SpMM per head with the attention weights as values and a transpose-order backward). PyG's
``GATConv(d, d / H, heads=H, bias=False, add_self_loops=True)`` computes the same layer (a test checks it when
torch_geometric is installed). `benchmarks/pyg_vs_csr.py` (d 64, 2 layers, 4 heads, 1 CPU thread, forward +
backward) measured on generated data (`graphrec synth`): about level at 16k training edges (32–42 ms against
35–39 ms a step over two runs), 0.45 s against 0.59 s at 160k, with less memory; on Gowalla (810k training edges,
2 threads) 3.62 s against 4.86 s a step, peak RSS 2.51 GB against 3.45 GB (benchmarks/pyg_vs_csr_gowalla.jsonl). The
own kernel is what the model uses (and needs no extra dependency).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from graphrec.config.models import GATConfig
from graphrec.graph.attention import EdgeList, attend
from graphrec.graph.sampled import SampledLayer
from graphrec.models._convolution import GraphConvolution


class GAT(GraphConvolution):
    """GAT layers over A + I, H heads concatenated, combined as LightGCN does."""

    name = "gat"
    config: GATConfig

    def build_layers(self, dim: int) -> None:
        heads = self.config.num_heads
        self.heads, self.head_dim = heads, dim // heads
        weights = [nn.Linear(dim, dim, bias=False) for _ in range(self.num_layers)]
        for linear in weights:
            nn.init.xavier_uniform_(linear.weight)
        self.weight = nn.ModuleList(weights)  # W, all heads
        self.att_src = nn.ParameterList(nn.Parameter(torch.empty(heads, self.head_dim)) for _ in range(self.num_layers))
        self.att_dst = nn.ParameterList(nn.Parameter(torch.empty(heads, self.head_dim)) for _ in range(self.num_layers))
        for att in [*self.att_src.parameters(), *self.att_dst.parameters()]:
            nn.init.xavier_uniform_(att)
        crow, col = self.adj.crow_indices().numpy(), self.adj.col_indices().numpy()
        self.edges = with_self_loops(crow, col, len(crow) - 1)  # a constant of the graph (not saved, rebuilt)

    def attention_layer(self, k: int, x: torch.Tensor, edges: EdgeList) -> torch.Tensor:
        """f(‖_h Σ_e α_e W_h x[col[e]]) for receivers 0..num_dst−1 (rows of `x`: senders; receiver v is row v)."""
        z = self.weight[k](x).view(-1, self.heads, self.head_dim)
        src_score = (z * self.att_src[k]).sum(dim=2)
        dst_score = (z[: edges.num_dst] * self.att_dst[k]).sum(dim=2)
        out = attend(z, dst_score, src_score, edges, self.config.attention_slope)
        return self.f(out.reshape(edges.num_dst, self.heads * self.head_dim))

    def full_layer(self, k: int, x: torch.Tensor) -> torch.Tensor:
        return self.attention_layer(k, x, self.edges)

    def sampled_layer(self, k: int, x: torch.Tensor, layer: SampledLayer) -> torch.Tensor:
        """Attention over the layer's drawn edges plus each receiver's self loop (receiver v is input row v)."""
        return self.attention_layer(k, x, with_self_loops(layer.crow, layer.col, layer.num_src))


def with_self_loops(crow: np.ndarray, col: np.ndarray, num_src: int) -> EdgeList:
    """The edges of a CSR matrix whose receiver v is also sender v, each row followed by its self loop v ← v."""
    counts = np.diff(np.asarray(crow)).astype(np.int64)
    nodes = np.arange(len(counts), dtype=np.int64)
    row = np.concatenate([np.repeat(nodes, counts), nodes])
    order = np.argsort(row, kind="stable")  # CSR order, the self loop last in its row
    loops_col = np.concatenate([np.asarray(col, dtype=np.int64), nodes])[order]
    return EdgeList.from_csr(np.r_[0, np.cumsum(counts + 1)], loops_col, num_src)
