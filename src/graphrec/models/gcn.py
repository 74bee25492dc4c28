r"""GCN (Kipf & Welling, ICLR 2017) on the user–item bipartite graph, in the mean-aggregation form with a separate
self transform of the project's seed notes (shared/seeds/001, the CS224W "GCN" slide) — Kipf & Welling instead
normalise symmetrically over N(v) ∪ {v} with one shared W:

.. math::
    h_v^{(k)} = f\Big(W^{(k)} \frac{1}{|N(v)|} \sum_{u \in N(v)} h_u^{(k-1)} + B^{(k)} h_v^{(k-1)}\Big),\qquad
    z = \sum_{k=0}^{K} \alpha_k h^{(k)},\qquad f(u, i) = z_u^\top z_i

h^{(0)}: id embeddings (+ projected item features, `models._convolution`); W^{(k)}, B^{(k)}: d × d without bias
(Xavier-uniform); f: `model.activation`; α: LightGCN's layer combination (`model.layer_weights`, default the mean).
Trained by the edge objective (BPR / BCE); `model.fanouts` trains on neighbour-sampled computation graphs, where the
mean runs over the drawn neighbours (an unbiased estimate of the full mean).

Implementation: graphrec's own CSR kernel — D⁻¹(A h) with `graph.propagate` on the binary symmetric A, whose
backward reuses A. PyG's equivalent is ``SAGEConv(d, d, aggr="mean", bias=False)`` (lin_l = W, lin_r = B), which
without PyG's compiled extensions gathers and scatters the edges. `benchmarks/pyg_vs_csr.py` (d 64, 2 layers, 1 CPU
thread, forward + backward) measured on generated data (`graphrec synth`): 3.1 ms against 9.7 ms a step at 16k
training edges, 38 ms against 210 ms at 160k; on Gowalla (810k training edges, 2 threads) 0.75 s against 1.49 s a
step, peak RSS 1.01 GB against 1.44 GB (benchmarks/pyg_vs_csr_gowalla.jsonl). The CSR kernel is what the model uses.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.config.models import GCNConfig
from graphrec.graph.sampled import SampledLayer
from graphrec.models._convolution import GraphConvolution


class GCN(GraphConvolution):
    """GCN layers h^{(k)} = f(W^{(k)} mean_{N(v)} h^{(k-1)} + B^{(k)} h_v^{(k-1)}), combined as LightGCN does."""

    name = "gcn"
    config: GCNConfig

    def build_layers(self, dim: int) -> None:
        self.neighbour_weight = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in range(self.num_layers))  # W
        self.self_weight = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in range(self.num_layers))  # B
        for linear in [*self.neighbour_weight, *self.self_weight]:
            nn.init.xavier_uniform_(linear.weight)

    def combine(self, k: int, mean: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        """f(W^{(k)} mean + B^{(k)} own)."""
        return self.f(self.neighbour_weight[k](mean) + self.self_weight[k](own))

    def full_layer(self, k: int, x: torch.Tensor) -> torch.Tensor:
        return self.combine(k, self.neighbour_mean(x), x)

    def sampled_layer(self, k: int, x: torch.Tensor, layer: SampledLayer) -> torch.Tensor:
        """`layer.aggregate` with the weights of D⁻¹A (`propagation_matrix`): the mean of the drawn neighbours."""
        return self.combine(k, layer.aggregate(x), x[: layer.num_dst])
