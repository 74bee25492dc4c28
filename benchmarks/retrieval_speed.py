"""Old vs new full-ranking evaluation, interleaved in one process on Gowalla's real train/test with random d = 64
embeddings: the old evaluation/metrics.py is loaded from an export of an older commit.

    git archive 17bc668 src | tar -x -C /tmp/old && python benchmarks/retrieval_speed.py /tmp/old/src [--rounds 10]
"""

import argparse, sys, time, json, importlib.util
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
import torch
from graphrec.data import DataConfig, load_dataset
from graphrec.evaluation import evaluate_embeddings as new_eval

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("old_src", type=Path)
parser.add_argument("--data", default="../shared/data/gowalla")
parser.add_argument("--rounds", type=int, default=10)
args = parser.parse_args()
spec = importlib.util.spec_from_file_location("oldm", args.old_src / "graphrec" / "evaluation" / "metrics.py")
oldm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oldm)
ds = load_dataset(DataConfig(path=args.data, valid_ratio=0.0), seed=0)
g = torch.Generator().manual_seed(0)
u, i = torch.randn(ds.num_users, 64, generator=g), torch.randn(ds.num_items, 64, generator=g)
out = {"old": [], "new": []}
res = {}
for rep in range(args.rounds):
    for name, f in (
        (("old", oldm.evaluate_embeddings), ("new", new_eval))
        if rep % 2 == 0
        else (("new", new_eval), ("old", oldm.evaluate_embeddings))
    ):
        t = time.perf_counter()
        res[name] = f(u, i, ds.test, ds.train, [20])
        out[name].append(round(time.perf_counter() - t, 3))
assert res["old"] == res["new"], (res["old"], res["new"])
print(
    json.dumps({k: {"all": v, "min": min(v), "median": sorted(v)[len(v) // 2]} for k, v in out.items()}),
    "identical metrics:",
    res["new"]["recall@20"],
)
