"""The built-in demo: synthetic interactions with planted communities → Popularity, MF, LightGCN → test metrics."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from graphrec.config import RunConfig, config_from_dict
from graphrec.data import generate_demo_dir
from graphrec.errors import ConfigError
from graphrec.runs import evaluate_run, load_run, recommend, train

logger = logging.getLogger(__name__)

DEMO_MODELS = ("popularity", "mf", "lightgcn")


def demo_config(data_dir: Path, model: str, epochs: int, seed: int, show_progress: bool | None) -> RunConfig:
    """The demo's settings: small data, so larger learning rate, frequent validation."""
    values: dict[str, Any] = {"seed": seed, "data": {"path": str(data_dir)}, "model": {"name": model}}
    if model != "popularity":  # closed form: nothing to train
        values["model"]["embedding_dim"] = 32
        values["train"] = {
            "epochs": epochs,
            "batch_size": 1024,
            "lr": 0.01,
            "eval_every": 5,
            "patience": 3,
            "show_progress": show_progress,
        }
    return config_from_dict(values)


_MARKER = ".graphrec-demo"


def _fresh_demo_dir(out_dir: Path) -> Path:
    """Empty a previous demo directory; refuse to touch a non-empty directory the demo did not create."""
    if (out_dir / _MARKER).exists():
        shutil.rmtree(out_dir)
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"demo output directory '{out_dir}' exists and is not a demo directory; pass --out NEW_DIR")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / _MARKER).touch()
    return out_dir


def run_demo(out_dir: str | Path, epochs: int = 40, seed: int = 0, show_progress: bool | None = None) -> dict[str, Any]:
    """Generate demo data in `out_dir/data`, train each demo model into `out_dir/<model>`, evaluate on test.

    Returns {"data_dir", "results": {model: test metrics}, "runs": {model: run dir}, "example_user",
    "recommendations": top-10 of LightGCN for the example user, "seen": how many items that user has seen}.
    """
    out_dir = _fresh_demo_dir(Path(out_dir))
    data_dir = out_dir / "data"
    generate_demo_dir(data_dir, seed=seed)
    results, runs = {}, {}
    for model in DEMO_MODELS:
        run_dir = out_dir / model
        logger.info("demo: training %s into %s", model, run_dir)
        config = demo_config(data_dir, model, epochs, seed, show_progress)
        train(config, run_dir)
        results[model] = evaluate_run(run_dir, "test", [20])
        runs[model] = str(run_dir)
    run = load_run(runs["lightgcn"])
    example_user = run.user_ids.id_of(0)
    return {
        "data_dir": str(data_dir),
        "results": results,
        "runs": runs,
        "example_user": example_user,
        "seen": int(run.train[0].nnz),
        "recommendations": recommend(run, example_user, 10),
    }
