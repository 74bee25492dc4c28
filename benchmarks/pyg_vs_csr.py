"""Seconds per forward + backward step and peak RSS of GCN and GAT layers: graphrec's own kernels against PyG's.

Variants (each run in its own process, so the peak RSS is the variant's own):

- ``gcn-csr``: `graphrec.models.GCN` — D⁻¹(A h) by `graph.propagate` (CSR SpMM, symmetric backward);
- ``gcn-pyg``: the same layer as PyG's ``SAGEConv(d, d, aggr="mean", bias=False)`` on an edge_index (scatter);
- ``gat-csr``: `graphrec.models.GAT` — `graph.attention` (gathers, per-row softmax, index_add) over A + I;
- ``gat-pyg``: PyG's ``GATConv(d, d / H, heads=H, bias=False)`` (self loops added by PyG).

Wall seconds on a shared machine vary with its load; the process CPU seconds per step are reported beside them.
Each step: layer-0 tables → K layers with the model's activation → the mean of layers 0..K → Σ z² → backward (no
optimiser step, no negatives: the propagation alone). Prints one JSON line per variant: median seconds per step,
build seconds, peak RSS and its growth over the RSS after loading the data. Needs torch_geometric (pure Python; none
of its compiled extensions). Gowalla (the default --data) results: benchmarks/pyg_vs_csr_gowalla.jsonl. Smoke-run on
generated data:

    graphrec synth --edges 20000 --out /tmp/synth20k --seed 0
    python benchmarks/pyg_vs_csr.py --data /tmp/synth20k --steps 5
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from graphrec.config import RunConfig, apply_overrides, model_config
from graphrec.data import load_dataset
from graphrec.models import GAT, GCN
from graphrec.models._convolution import GraphConvolution

VARIANTS = ("gcn-csr", "gcn-pyg", "gat-csr", "gat-pyg")


def rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pyg_step(model: GraphConvolution, variant: str) -> Callable[[], torch.Tensor]:
    """A forward of the model's layer-0 inputs through PyG convolutions of the same shape and activation."""
    from torch_geometric.nn import GATConv, SAGEConv

    d, k = model.config.embedding_dim, model.num_layers
    crow, col = model.adj.crow_indices().long(), model.adj.col_indices().long()
    row = torch.repeat_interleave(torch.arange(len(crow) - 1), torch.diff(crow))
    edge_index = torch.stack([col, row])  # messages flow source (col) → target (row)
    if variant == "gcn-pyg":
        convs = torch.nn.ModuleList(SAGEConv(d, d, aggr="mean", bias=False) for _ in range(k))
    else:
        heads = model.config.num_heads  # type: ignore[attr-defined]  # a GATConfig
        convs = torch.nn.ModuleList(GATConv(d, d // heads, heads=heads, bias=False) for _ in range(k))
    model.add_module("pyg", convs)

    def forward() -> torch.Tensor:
        x = model.ego()
        out = x / (k + 1)
        for conv in convs:
            x = model.f(conv(x, edge_index))
            out = out + x / (k + 1)
        return out

    return forward


def run_variant(args: argparse.Namespace) -> dict[str, object]:
    torch.set_num_threads(args.threads)
    config = apply_overrides(RunConfig(seed=0), [f"data.path={args.data}", "data.valid_ratio=0.0"])
    dataset = load_dataset(config.data, config.seed)
    loaded_mb, started = rss_mb(), time.perf_counter()
    torch.manual_seed(0)
    kind = args.variant.split("-")[0]
    options: dict[str, object] = {"embedding_dim": args.dim, "num_layers": args.layers}
    if kind == "gat":
        options["num_heads"] = args.heads
    cls = GCN if kind == "gcn" else GAT
    model = cls(dataset.num_users, dataset.num_items, model_config(kind, **options), dataset.train)  # type: ignore[arg-type]
    if args.variant.endswith("pyg"):
        forward = pyg_step(model, args.variant)
    else:
        forward = lambda: torch.cat(model.embeddings())  # noqa: E731
    build_s, times, cpu = time.perf_counter() - started, [], []
    for _ in range(args.steps):
        started, cpu_started = time.perf_counter(), time.process_time()
        model.zero_grad(set_to_none=True)
        (forward() ** 2).sum().backward()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return {
        "variant": args.variant,
        "data": args.data,
        "edges": int(dataset.train.nnz),
        "dim": args.dim,
        "layers": args.layers,
        "heads": args.heads if kind == "gat" else None,
        "threads": args.threads,
        "build_s": round(build_s, 3),
        "step_s_median": round(statistics.median(times), 4),
        "step_s_first": round(times[0], 4),
        "step_cpu_s_median": round(statistics.median(cpu), 4),  # process CPU time: robust to a busy machine
        "peak_rss_mb": round(rss_mb(), 1),
        "peak_rss_growth_mb": round(rss_mb() - loaded_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/gowalla")
    parser.add_argument(
        "--variant", choices=VARIANTS, help="run one variant in this process (default: all, each in its own process)"
    )
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    common = [f"--{key}={getattr(args, key)}" for key in ("data", "dim", "layers", "heads", "steps", "threads")]
    for variant in VARIANTS:
        subprocess.run([sys.executable, __file__, f"--variant={variant}", *common], check=True)


if __name__ == "__main__":
    main()
