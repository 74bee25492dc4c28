"""torch.distributed: a 2-process gloo training run equals a 1-process run with the same effective batch, and
sharded embedding (graphrec embed) merges to the 1-process embeddings.

Both runs draw the same global batches and negatives (same seed); the two ranks each take half of every batch and
all-reduce share-weighted gradients, so the only difference is the float summation order of the gradient (the
per-rank partial sums of the scatter-add are added by the all-reduce instead of in one pass): a few ulps per step,
carried through Adam for a handful of epochs. Stated tolerances: every embedding within 1e-4 (observed ~2e-6),
the per-epoch training loss within 1e-5 relative, and every validation metric within 2 / num_users (at most two
users' top-K lists may differ by a swap of near-tied items; observed: identical).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from graphrec.errors import ConfigError
from graphrec.training.distributed import Distributed, launched_world, shard_range
from tests.conftest import tiny_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_world(fn, world_size: int, *args) -> None:
    """Run fn(*args) in `world_size` processes with the torchrun environment variables set."""
    mp.start_processes(_launch, args=(world_size, free_port(), fn, args), nprocs=world_size, start_method="spawn")


def _launch(rank: int, world_size: int, port: int, fn, args: tuple) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    # One process group for all of fn's calls (graphrec reuses an existing group), as a torchrun worker has one.
    dist.init_process_group("gloo")
    try:
        fn(*args)
        dist.barrier()  # no rank tears the group down while the other still has gloo work in flight
    finally:
        dist.destroy_process_group()


MODELS = {"lightgcn": {"negative_candidates": 4}, "mf": {}}  # LightGCN with dynamic negatives, MF plain


def _world_worker(configs: dict, root: str) -> None:
    """One rank of the 2-process world: train each model, then embed the 1-process runs (one spawn for all, as
    starting processes is most of the cost)."""
    from graphrec.embed import embed_run
    from graphrec.runs import train

    for name, config in configs.items():
        train(config, Path(root) / "two" / name)
    for name in ("lightgcn", "pinsage", "mf"):
        embed_run(Path(root) / "one" / name, Path(root) / "embed" / name)
    users, items, target = _random_scores()
    rank = dist.get_rank()
    metrics = Distributed(rank, dist.get_world_size()).evaluate_embeddings(users, items, target, None, [5], 7)
    if rank == 0:
        (Path(root) / "gathered_metrics.json").write_text(json.dumps(metrics))


def _random_scores() -> tuple[torch.Tensor, torch.Tensor, object]:
    """Random embeddings and targets for 101 users (an odd count: the ranks evaluate 50 and 51 users)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    rows = np.concatenate([np.arange(101), rng.integers(0, 101, 400)])  # every user has a target
    target = sp.csr_matrix((np.ones(rows.size), (rows, rng.integers(0, 40, rows.size))), shape=(101, 40))
    target.data[:] = 1
    return (
        torch.from_numpy(rng.normal(size=(101, 8)).astype(np.float32)),
        torch.from_numpy(rng.normal(size=(40, 8)).astype(np.float32)),
        target,
    )


@pytest.fixture(scope="module")
def world(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1-process runs under one/, the same configs trained by 2 ranks under two/, 2-rank embeddings under embed/."""
    from graphrec.runs import train

    root = tmp_path_factory.mktemp("distributed")
    # 1,000 training edges / 333 per batch: uneven rank slices (166 / 167) and an uneven last batch (1 edge)
    configs = {
        name: tiny_config(planted_dir, name, epochs=4, batch_size=333, **extra) for name, extra in MODELS.items()
    }
    for name, config in configs.items():
        train(config, root / "one" / name)
    pinsage = tiny_config(planted_dir, "pinsage", epochs=1)
    train(pinsage, root / "one" / "pinsage")
    spawn_world(_world_worker, 2, {**configs, "pinsage": pinsage}, str(root))
    return root


def _tables(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(run_dir / "model.safetensors")).items() if k.startswith("model.")}


@pytest.mark.parametrize("model", list(MODELS))
def test_two_processes_match_one(world: Path, model: str) -> None:
    single = json.loads((world / "one" / model / "summary.json").read_text())
    double = json.loads((world / "two" / model / "summary.json").read_text())
    assert double["world_size"] == 2 and single["world_size"] == 1
    for name, value in single["valid"].items():
        assert double["valid"][name] == pytest.approx(value, abs=2 / single["valid"]["num_users"]), name
    one, two = _tables(world / "one" / model), _tables(world / "two" / model)
    assert one.keys() == two.keys()
    for name in one:
        assert torch.allclose(one[name], two[name], atol=1e-4), (name, (one[name] - two[name]).abs().max())
    losses = [
        [json.loads(line)["train_loss"] for line in (world / run / model / "metrics.jsonl").open()]
        for run in ("one", "two")
    ]
    assert len(losses[0]) == 4 and np.allclose(losses[0], losses[1], rtol=1e-5)
    assert not list((world / "two" / model).glob(".*.tmp"))  # rank 0 alone wrote, atomically


@pytest.mark.parametrize(
    "model, method",
    [("lightgcn", "row-sharded propagation"), ("pinsage", "layer-wise item shards"), ("mf", "replicated")],
)
def test_embed_shards_merge_to_the_single_process_embeddings(world: Path, model: str, method: str) -> None:
    from graphrec.runs import load_run

    run = load_run(world / "one" / model)
    users, items = (t.numpy() for t in run.embeddings())
    out = world / "embed" / model
    summary = json.loads((out / "embed_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["method"] == method
    shards = sorted(p.name for p in (out / "shards").glob("*.npy"))
    assert shards == [f"{kind}-shard-0000{r}-of-00002.npy" for kind in ("item", "user") for r in (0, 1)]
    # Row slices of the same products in the same order: equal to float rounding (observed: bit-identical).
    np.testing.assert_allclose(np.load(out / "user_embeddings.npy"), users, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.load(out / "item_embeddings.npy"), items, rtol=0, atol=1e-6)
    for name in ("user_ids.json", "item_ids.json"):
        assert (out / name).read_text() == (world / "one" / model / name).read_text()


def test_embed_single_process_and_merge_errors(world: Path, tmp_path: Path) -> None:
    from graphrec.embed import embed_run, merge_shards
    from graphrec.errors import RunDirError

    summary = embed_run(world / "one" / "lightgcn", tmp_path / "e")
    assert summary["world_size"] == 1
    np.testing.assert_array_equal(
        np.load(tmp_path / "e" / "item_embeddings.npy"), np.load(world / "embed" / "lightgcn" / "item_embeddings.npy")
    )
    with pytest.raises(RunDirError, match=r"shard.*missing; rerun graphrec embed with the same world size"):
        merge_shards(tmp_path / "e", "item", 3, summary["num_items"])
    with pytest.raises(RunDirError, match=r"shards hold 300 rows of widths \[16\], expected 301 rows"):
        merge_shards(tmp_path / "e", "item", 1, summary["num_items"] + 1)


def test_two_processes_split_item_pair_batches(world: Path) -> None:
    """PinSAGE: each rank takes a slice of the batch's pairs (and their hard negatives; the shared negatives and the
    batch's computation graph stay whole). Its max-margin training is sensitive to rounding (1 process with 1 vs 2
    threads already ends 0.14 apart in the weights), so only the first epoch's mean loss is compared, which a wrong
    share weighting or a lost slice would change by far more than the 1e-3 allowed (observed: 2e-5)."""
    losses = [
        json.loads((world / run / "pinsage" / "metrics.jsonl").read_text().splitlines()[0])["train_loss"]
        for run in ("one", "two")
    ]
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)


def test_gathered_evaluation_is_the_one_process_evaluation(world: Path) -> None:
    """Per-user values gathered from both ranks, then one mean: exactly the 1-process numbers (not a mean of the
    two ranks' means, which differs here because the ranks hold 50 and 51 users)."""
    from graphrec.evaluation import evaluate_embeddings
    from graphrec.evaluation.metrics import evaluate_users

    users, items, target = _random_scores()
    gathered = json.loads((world / "gathered_metrics.json").read_text())
    assert gathered == evaluate_embeddings(users, items, target, None, [5], chunk_size=7)
    _, per_user = evaluate_users(users, items, target, None, [5])
    mean_of_means = (per_user["ndcg@5"][:50].mean() + per_user["ndcg@5"][50:].mean()) / 2
    assert abs(mean_of_means - gathered["ndcg@5"]) > 1e-6  # the test can tell the two apart


def test_shard_range_covers_rows_once() -> None:
    for n in (0, 1, 5, 333):
        for world in (1, 2, 3):
            ranges = [shard_range(n, r, world) for r in range(world)]
            assert ranges[0][0] == 0 and ranges[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
            assert max(b - a for a, b in ranges) - min(b - a for a, b in ranges) <= 1


def test_shard_batch_slices_rows_and_weights_by_share() -> None:
    batch = (torch.arange(5), torch.arange(5) + 10, torch.zeros(5, 1, 2, dtype=torch.int64))
    shares, rows = [], []
    for rank in range(2):
        local, share = Distributed(rank, 2).shard_batch(batch)
        shares.append(share)
        rows.append(local[0])
        assert local[2].shape[1:] == (1, 2) and torch.equal(local[1], local[0] + 10)
    assert shares == [2 / 5, 3 / 5]
    assert torch.equal(torch.cat(rows), batch[0])
    empty, share = Distributed(0, 2).shard_batch((torch.arange(1),) * 3)  # rank 1 takes the only row
    assert share == 0.0 and len(empty[0]) == 0


def test_launched_world_reads_the_torchrun_environment() -> None:
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "29500"}
    assert launched_world(env) == (1, 2, 1)
    assert launched_world({}) is None
    assert launched_world({**env, "RANK": "0", "WORLD_SIZE": "1"}) is None
    with pytest.raises(ConfigError, match="MASTER_ADDR, MASTER_PORT are not set"):
        launched_world({"RANK": "0", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="need 0 <= RANK < WORLD_SIZE, got RANK=2"):
        launched_world({**env, "RANK": "2"})
    with pytest.raises(ConfigError, match="must be integers"):
        launched_world({**env, "WORLD_SIZE": "two"})
