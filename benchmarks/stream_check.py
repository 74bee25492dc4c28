"""Train a config with the negative sampler on its pre-issue-12 random stream, to separate the interface redesign
from the change of random draws.

    python benchmarks/stream_check.py --config configs/gowalla_lightgcn.toml --data ../shared/data/gowalla --out DIR

Before issue 12 the edge objective drew negatives from ``numpy_rng(seed + 1, 1)``; it now draws them from
``numpy_rng(seed, Stream.NEGATIVES)`` (no seed arithmetic, one enum of streams). This script patches the sampler back
to the old entropy for one run, then prints the test metrics: equal to the old code's, the redesign itself moved
nothing and any difference of the normal run is the new random draws.
"""

from __future__ import annotations

import argparse
import json

import graphrec.training.objectives as objectives
from graphrec.config import apply_overrides, load_config
from graphrec.runs import evaluate_run, train

OLD_SAMPLER_STREAM = 1  # samplers/uniform.py's SAMPLER_STREAM before issue 12 (with seed + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    config = apply_overrides(
        load_config(args.config), [f"data.path={json.dumps(args.data)}", "train.show_progress=false"]
    )
    new_sampler = objectives.UniformNegativeSampler

    def old_sampler(matrix: object, seed: int, stream: int) -> object:
        return new_sampler(matrix, seed=seed + 1, stream=OLD_SAMPLER_STREAM)

    objectives.UniformNegativeSampler = old_sampler  # type: ignore[assignment,misc]
    train(config, args.out)
    print(json.dumps(evaluate_run(args.out, "test", [20])))


if __name__ == "__main__":
    main()
