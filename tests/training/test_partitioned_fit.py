"""`graphrec train` with train.partitioned: runs in one process and across 2 gloo ranks give the same run.

Tolerances as in test_distributed.py: tables within 1e-4 after the epochs (float summation order only), the
per-epoch loss within 1e-5 relative, validation metrics within 2 / num_users.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrec.config import apply_overrides
from tests.conftest import tiny_config
from tests.training.test_distributed import spawn_world


def partitioned_config(planted_dir: Path, epochs: int = 4, partitioner: str = "edge-balanced"):
    # 333 per batch: the ranks' shares of a batch are uneven and the last batch holds one edge
    config = tiny_config(planted_dir, "lightgcn", epochs=epochs, batch_size=333, negative_candidates=4)
    return apply_overrides(config, ["train.partitioned=true", f"train.partitioner={partitioner}"])


def _two_rank_train(config, run_dir: str, embed_dir: str, sampled_config, sampled_dir: str) -> None:
    from graphrec.embed import embed_run
    from graphrec.runs import train

    train(config, run_dir)
    embed_run(run_dir, embed_dir)
    train(sampled_config, sampled_dir)


def sampled_partitioned_config(planted_dir: Path):
    """Partitioned sampled propagation (model.fanouts) with uniform negatives."""
    config = tiny_config(planted_dir, "lightgcn", epochs=8, model_options={"fanouts": [4, 4]})
    return apply_overrides(config, ["train.partitioned=true"])


@pytest.fixture(scope="module")
def runs(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from graphrec.runs import train

    root = tmp_path_factory.mktemp("partitioned")
    train(partitioned_config(planted_dir), root / "one")
    config = partitioned_config(planted_dir, partitioner="min-cut")
    sampled = sampled_partitioned_config(planted_dir)
    spawn_world(_two_rank_train, 2, config, str(root / "two"), str(root / "embed-two"), sampled, str(root / "sampled"))
    return root


def _tables(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model.safetensors"))


def test_two_ranks_write_the_run_one_process_writes(runs: Path) -> None:
    one, two = (json.loads((runs / name / "summary.json").read_text()) for name in ("one", "two"))
    assert (one["world_size"], two["world_size"]) == (1, 2)
    for name, value in one["valid"].items():
        assert two["valid"][name] == pytest.approx(value, abs=2 / one["valid"]["num_users"]), name
    a, b = _tables(runs / "one"), _tables(runs / "two")
    assert a.keys() == b.keys() == {"model.user_embedding.weight", "model.item_embedding.weight"}
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-4), (name, (a[name] - b[name]).abs().max())
    losses = [[json.loads(line)["train_loss"] for line in (runs / n / "metrics.jsonl").open()] for n in ("one", "two")]
    assert len(losses[0]) == 4 and np.allclose(losses[0], losses[1], rtol=1e-5)
    assert sorted(p.name for p in (runs / "two").glob("checkpoint-rank-*")) == [
        "checkpoint-rank-00000-of-00002.safetensors",
        "checkpoint-rank-00001-of-00002.safetensors",
    ]
    assert not list((runs / "two").glob("*.partial"))


def test_a_partitioned_run_loads_and_evaluates_as_a_lightgcn_run(runs: Path) -> None:
    """The validation the partitioned loop measured equals evaluate on the loaded best model."""
    from graphrec.assessment import evaluate_run

    summary = json.loads((runs / "two" / "summary.json").read_text())
    again = evaluate_run(runs / "two", split="valid", ks=[10, 20])
    for name in ("recall@20", "ndcg@20", "recall@10"):
        assert again[name] == pytest.approx(summary["valid"][name], abs=1e-9), name
    assert summary["valid"]["recall@20"] > 0.2  # it learned the planted communities (popularity: ~0.1)


def test_resume_continues_a_partitioned_run_exactly(planted_dir: Path, tmp_path: Path) -> None:
    from graphrec.runs import train

    train(partitioned_config(planted_dir, epochs=4), tmp_path / "straight")
    train(partitioned_config(planted_dir, epochs=2), tmp_path / "resumed")
    train(partitioned_config(planted_dir, epochs=4), tmp_path / "resumed", resume=True)
    a, b = _tables(tmp_path / "straight"), _tables(tmp_path / "resumed")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


@pytest.mark.parametrize("world", [1, 2])
def test_embed_of_a_partitioned_run_writes_the_lightgcn_embeddings(runs: Path, world: int, tmp_path: Path) -> None:
    from graphrec.embed import embed_run
    from graphrec.runs import load_run

    out = runs / "embed-two" if world == 2 else tmp_path / "embed"
    if world == 1:
        embed_run(runs / "two", out)
    users, items = load_run(runs / "two").embeddings()
    np.testing.assert_allclose(np.load(out / "user_embeddings.npy"), users.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.load(out / "item_embeddings.npy"), items.numpy(), atol=1e-5)
    summary = json.loads((out / "embed_summary.json").read_text())
    assert summary["world_size"] == world and summary["method"] == "partitioned (min-cut)"
    assert json.loads((out / "item_ids.json").read_text()) == json.loads((runs / "two" / "item_ids.json").read_text())


def test_partitioned_sampled_training_learns_the_planted_communities(
    runs: Path, planted_dir: Path, tmp_path: Path
) -> None:
    """model.fanouts across 2 ranks (each rank's neighbours drawn by their owner) against popularity on test."""
    from graphrec.assessment import evaluate_run
    from graphrec.runs import train

    train(tiny_config(planted_dir, "popularity", epochs=0), tmp_path / "popularity")
    popularity = evaluate_run(tmp_path / "popularity", "test", [20])["recall@20"]
    sampled = evaluate_run(runs / "sampled", "test", [20])["recall@20"]
    assert json.loads((runs / "sampled" / "summary.json").read_text())["world_size"] == 2
    assert sampled > 1.3 * popularity, (sampled, popularity)
