"""Partitioned LightGCN (graph, tables and Adam state split across ranks) equals one-process LightGCN.

The reference is graphrec's own LinearPropagation with EdgeObjective's loss written out (BPR or BCE on the final
embeddings of the batch, hardest-of-M negatives, L2 on the batch's layer-0 rows / batch size), started from the same
layer-0 rows. Tolerances: float summation order differs (a row's neighbours are summed in local column order, and
exchanged gradients add in a different order), a few ulps per step through Adam: 1e-5 on the tables after the steps
(observed ~1e-7), 1e-6 relative on each step's loss.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.distributed as dist

from graphrec.config.models import LightGCNConfig
from graphrec.errors import ConfigError
from graphrec.evaluation.partitioned import evaluate_partitioned
from graphrec.graph import normalized_adjacency
from graphrec.graph.partition import Partition, edge_balanced, halo_nodes, make_partition, min_cut, partition_report
from graphrec.losses import get_loss, l2_penalty
from graphrec.models.lightgcn import LightGCN
from graphrec.samplers.dynamic import select_hardest
from graphrec.training.halo import ExchangeStats, exchange_plan
from graphrec.training.partitioned import PartitionedLightGCN, initial_rows, local_adjacency
from tests.training.test_distributed import spawn_world

NUM_USERS, NUM_ITEMS, DIM, STEPS, BATCH = 60, 45, 8, 4, 32
CONFIG = LightGCNConfig(embedding_dim=DIM, num_layers=2, init_std=0.1)


def community_graph(seed: int = 0, shuffle: bool = True) -> sp.csr_matrix:
    """Two planted communities (users and items interact mostly inside theirs), ids shuffled so contiguous blocks
    do not follow the communities; one isolated user and one isolated item."""
    rng = np.random.default_rng(seed)
    user_side, item_side = rng.integers(0, 2, NUM_USERS), rng.integers(0, 2, NUM_ITEMS)
    same = user_side[:, None] == item_side[None, :]
    dense = rng.random((NUM_USERS, NUM_ITEMS)) < np.where(same, 0.3, 0.02)
    dense[0], dense[:, 0] = False, False
    if not shuffle:
        return sp.csr_matrix(dense.astype(np.float32))
    return sp.csr_matrix(dense[rng.permutation(NUM_USERS)][:, rng.permutation(NUM_ITEMS)].astype(np.float32))


def batches(train: sp.csr_matrix, candidates: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """STEPS global batches (users, positives, candidates (B, 1, M)) drawn from the training edges."""
    rng = np.random.default_rng(5)
    coo = train.tocoo()
    out = []
    for _ in range(STEPS):
        picks = rng.integers(0, coo.nnz, BATCH)
        negatives = rng.integers(0, NUM_ITEMS, (BATCH, 1, candidates))
        users, items = (torch.from_numpy(a[picks].astype(np.int64)) for a in (coo.row, coo.col))
        out.append((users, items, torch.from_numpy(negatives)))
    return out


def reference_training(train: sp.csr_matrix, candidates: int, loss: str) -> tuple[list[float], np.ndarray]:
    """One process: LightGCN from the partition-free initial rows, EdgeObjective's loss, Adam."""
    model = LightGCN(NUM_USERS, NUM_ITEMS, CONFIG, train)
    start = initial_rows(np.arange(NUM_USERS + NUM_ITEMS), DIM, CONFIG.init_std, seed=11)
    with torch.no_grad():
        model.user_embedding.weight.copy_(start[:NUM_USERS])
        model.item_embedding.weight.copy_(start[NUM_USERS:])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for users, positives, cands in batches(train, candidates):
        optimizer.zero_grad()
        user_emb, item_emb = model.embeddings()
        ego_users, ego_items = model.ego_embeddings()
        negatives = (
            cands[:, :, 0] if candidates == 1 else select_hardest(cands, user_emb[users].detach(), item_emb.detach())
        )
        value = get_loss(loss)(user_emb[users], item_emb[positives], item_emb[negatives])
        value = value + 1e-2 * l2_penalty(
            ego_users[users], ego_items[positives], ego_items[negatives], batch_size=len(users)
        )
        value.backward()
        optimizer.step()
        losses.append(float(value.detach()))
    return losses, model.ego().detach().numpy()


def held_out(train: sp.csr_matrix) -> sp.csr_matrix:
    """Test items: random pairs not in train (a few users get none)."""
    rng = np.random.default_rng(9)
    dense = (rng.random((NUM_USERS, NUM_ITEMS)) < 0.08) & (train.toarray() == 0)
    dense[:3] = False
    return sp.csr_matrix(dense.astype(np.float32))


def reference_metrics(train: sp.csr_matrix, rows: np.ndarray) -> dict[str, float]:
    """One-process evaluate_embeddings of the final embeddings computed from layer-0 `rows` (all nodes)."""
    from graphrec.evaluation.metrics import evaluate_embeddings

    model = LightGCN(NUM_USERS, NUM_ITEMS, CONFIG, train)
    with torch.no_grad():
        model.user_embedding.weight.copy_(torch.from_numpy(rows[:NUM_USERS]))
        model.item_embedding.weight.copy_(torch.from_numpy(rows[NUM_USERS:]))
        users, items = model.embeddings()
    return evaluate_embeddings(users, items, held_out(train), train, [5, 20], chunk_size=7)


def sampled_training(train: sp.csr_matrix, partition: Partition, rank: int, fanouts: list[int]) -> tuple:
    """One rank's sampled (model.fanouts) training with uniform negatives: (losses, its nodes, its layer-0 rows)."""
    from graphrec.seeding import numpy_rng

    model = PartitionedLightGCN(train, CONFIG, partition, rank, seed=11)
    sampler = model.sampler(fanouts)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for step, (users, positives, cands) in enumerate(batches(train, 1)):
        optimizer.zero_grad()
        value = model.sampled_batch_loss(
            users, positives, cands[:, :, 0], "bpr", 1e-2, sampler, numpy_rng(3, 0, rank, step)
        )
        value.backward()
        optimizer.step()
        losses.append(float(value.detach()))
    return losses, model.nodes, model.embedding.detach().numpy()


def partitioned_training(train: sp.csr_matrix, partition: Partition, rank: int, candidates: int, loss: str):
    """One rank's part: (its per-step losses, its nodes, its final layer-0 rows, its exchange stats, and the
    partitioned evaluation of the trained model)."""
    stats = ExchangeStats()
    model = PartitionedLightGCN(train, CONFIG, partition, rank, seed=11, stats=stats)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for users, positives, cands in batches(train, candidates):
        optimizer.zero_grad()
        value = model.batch_loss(users, positives, cands, loss, 1e-2)
        value.backward()
        optimizer.step()
        losses.append(float(value.detach()))
    with torch.no_grad():
        final = model()
    metrics = evaluate_partitioned(final, partition, rank, held_out(train), train, [5, 20], chunk_size=7)
    return losses, model.nodes, model.embedding.detach().numpy(), stats, metrics


def assert_same_metrics(got: dict, expected: dict) -> None:
    assert got["num_users"] == expected["num_users"]
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_every_node_has_one_owner_and_edge_balanced_blocks_balance_nonzeros() -> None:
    train = community_graph()
    for partition in (edge_balanced(train, 3), min_cut(train, 3)):
        assert partition.owner.shape == (NUM_USERS + NUM_ITEMS,)
        assert sorted(np.concatenate([partition.nodes(r) for r in range(3)]).tolist()) == list(range(105))
        local = partition.local_index
        for r in range(3):
            assert local[partition.nodes(r)].tolist() == list(range(len(partition.nodes(r))))
    report = partition_report(train, edge_balanced(train, 2))
    share = np.array(report["nonzeros"]) / sum(report["nonzeros"])
    assert abs(share[0] - 0.5) < 0.1, report


def test_min_cut_cuts_fewer_edges_and_fetches_fewer_rows_than_id_blocks_on_shuffled_communities() -> None:
    train = community_graph()
    blocks, metis = (partition_report(train, make_partition(train, 2, m)) for m in ("edge-balanced", "min-cut"))
    assert metis["cut_fraction"] < 0.5 * blocks["cut_fraction"], (metis, blocks)
    assert metis["exchanged_rows_per_layer"] < blocks["exchanged_rows_per_layer"]


def test_partition_report_matches_a_loop_over_edges() -> None:
    train = community_graph()
    partition = min_cut(train, 3)
    owner = partition.owner
    coo = train.tocoo()
    cut = np.mean([owner[u] != owner[NUM_USERS + i] for u, i in zip(coo.row, coo.col, strict=True)])
    halos = [set() for _ in range(3)]
    for u, i in zip(coo.row, coo.col, strict=True):
        a, b = int(u), NUM_USERS + int(i)
        if owner[a] != owner[b]:
            halos[owner[a]].add(b)
            halos[owner[b]].add(a)
    report = partition_report(train, partition)
    assert report["cut_fraction"] == round(float(cut), 4)
    assert report["halo_rows"] == [len(h) for h in halos]
    adj = normalized_adjacency(train)
    assert [sorted(h) for h in halos] == [halo_nodes(adj, partition, r).tolist() for r in range(3)]


@pytest.mark.parametrize("method", ["edge-balanced", "min-cut"])
def test_local_rows_are_the_rows_of_the_normalised_adjacency(method: str) -> None:
    train = community_graph()
    partition = make_partition(train, 3, method)
    full = normalized_adjacency(train).toarray()
    for rank in range(3):
        adj, halo = local_adjacency(train, partition, rank)
        own = partition.nodes(rank)
        columns = np.concatenate([own, halo])
        expected = np.zeros((len(own), NUM_USERS + NUM_ITEMS), dtype=np.float32)
        expected[:, columns] = adj.to_dense().numpy()
        np.testing.assert_array_equal(expected, full[own])


def test_initial_rows_do_not_depend_on_how_nodes_are_grouped() -> None:
    nodes = np.array([70000, 3, 65536, 9])
    together = initial_rows(nodes, 4, 0.1, seed=2)
    apart = torch.cat([initial_rows(nodes[:2], 4, 0.1, seed=2), initial_rows(nodes[2:], 4, 0.1, seed=2)])
    torch.testing.assert_close(together, apart, rtol=0, atol=0)
    assert not torch.equal(initial_rows(nodes, 4, 0.1, seed=3), together)


@pytest.mark.parametrize(("candidates", "loss"), [(1, "bpr"), (4, "bpr"), (1, "bce")])
def test_one_rank_equals_one_process_lightgcn(candidates: int, loss: str) -> None:
    train = community_graph()
    expected_losses, expected = reference_training(train, candidates, loss)
    partition = Partition(np.zeros(NUM_USERS + NUM_ITEMS, dtype=np.int32), 1, "edge-balanced", NUM_USERS)
    losses, nodes, rows, stats, metrics = partitioned_training(train, partition, 0, candidates, loss)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-6)
    np.testing.assert_allclose(rows, expected[nodes], atol=1e-5)
    assert_same_metrics(metrics, reference_metrics(train, expected))
    assert stats.bytes_sent == 0 and stats.calls > 0  # nothing leaves a world of one


def _two_rank_worker(root: str) -> None:
    rank = dist.get_rank()
    train = community_graph()
    for method in ("edge-balanced", "min-cut"):
        partition = make_partition(train, 2, method)
        for candidates, loss in ((1, "bpr"), (4, "bpr")):
            losses, nodes, rows, stats, metrics = partitioned_training(train, partition, rank, candidates, loss)
            name = f"{method}-{candidates}-{loss}-rank{rank}"
            np.save(Path(root) / f"{name}.npy", rows)
            halo = len(halo_nodes(normalized_adjacency(train), partition, rank))
            (Path(root) / f"{name}.json").write_text(json.dumps({
                "losses": losses, "nodes": nodes.tolist(), "bytes_received": stats.bytes_received, "halo": halo,
                "metrics": metrics,
            }))  # fmt: skip
        # sampled propagation with fan-outs above every degree: nothing is drawn, it is full propagation
        losses, nodes, rows = sampled_training(train, partition, rank, [1000, 1000])
        np.save(Path(root) / f"{method}-sampled-rank{rank}.npy", rows)
        (Path(root) / f"{method}-sampled-rank{rank}.json").write_text(
            json.dumps({"losses": losses, "nodes": nodes.tolist()})
        )
        sampled_training(train, partition, rank, [3, 2])  # drawn: runs collectively (values checked on one rank)
        # the all-gather form of the halo exchange fetches the same rows (and "auto" picks one of the two)
        from graphrec.training.halo import gather_plan, send_rows

        model = PartitionedLightGCN(train, CONFIG, partition, rank, seed=11, halo_exchange="auto")
        halo = model.halo
        local = torch.randn(len(partition.nodes(rank)), 3)
        a2a = send_rows(exchange_plan(partition, rank, halo), local)
        gathered = send_rows(gather_plan(partition, rank, halo, ExchangeStats()), local)
        assert torch.equal(a2a, gathered) and a2a.shape == (len(halo), 3)
        assert model.halo_plan.gather_positions is not None or model.halo_plan.send_index.numel() > 0
        # an empty request still joins the collective, and rows come back in the requested order
        wanted = np.array([5, 2, 5, 100]) if rank == 0 else np.array([], dtype=np.int64)
        local = torch.from_numpy(partition.nodes(rank).astype(np.float32))[:, None]
        got = exchange_plan(partition, rank, wanted).fetch(local)
        assert got[:, 0].tolist() == [float(v) for v in wanted], got


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What each of 2 gloo ranks trained, for both partitioners (one spawn for all: starting processes costs most)."""
    root = tmp_path_factory.mktemp("two-ranks")
    spawn_world(_two_rank_worker, 2, str(root))
    return root


def test_two_gloo_ranks_equal_one_process(two_ranks: Path) -> None:
    tmp_path = two_ranks
    train = community_graph()
    for method in ("edge-balanced", "min-cut"):
        for candidates, loss in ((1, "bpr"), (4, "bpr")):
            expected_losses, expected = reference_training(train, candidates, loss)
            total = np.zeros(STEPS)
            for rank in range(2):
                name = f"{method}-{candidates}-{loss}-rank{rank}"
                info = json.loads((tmp_path / f"{name}.json").read_text())
                rows = np.load(tmp_path / f"{name}.npy")
                np.testing.assert_allclose(rows, expected[info["nodes"]], atol=1e-5)
                total += np.array(info["losses"])
                # per step: K halo fetches forward and K backward of d floats per row, plus the batch rows
                assert info["bytes_received"] >= STEPS * 2 * CONFIG.num_layers * info["halo"] * DIM * 4
            np.testing.assert_allclose(total, expected_losses, rtol=1e-6)
            assert_same_metrics(info["metrics"], reference_metrics(train, expected))  # rank 1's: both hold the means


def test_two_gloo_ranks_sampling_with_fanouts_above_every_degree_equal_one_process(two_ranks: Path) -> None:
    tmp_path = two_ranks
    train = community_graph()
    expected_losses, expected = reference_training(train, 1, "bpr")
    for method in ("edge-balanced", "min-cut"):
        total = np.zeros(STEPS)
        for rank in range(2):
            info = json.loads((tmp_path / f"{method}-sampled-rank{rank}.json").read_text())
            rows = np.load(tmp_path / f"{method}-sampled-rank{rank}.npy")
            np.testing.assert_allclose(rows, expected[info["nodes"]], atol=1e-5)
            total += np.array(info["losses"])
        np.testing.assert_allclose(total, expected_losses, rtol=1e-6)


def test_one_rank_sampled_layers_are_the_one_process_sampler_s_and_unbiased() -> None:
    from graphrec.graph.sampled import NeighbourSampler
    from graphrec.seeding import numpy_rng

    train = community_graph()
    partition = Partition(np.zeros(NUM_USERS + NUM_ITEMS, dtype=np.int32), 1, "edge-balanced", NUM_USERS)
    model = PartitionedLightGCN(train, CONFIG, partition, 0, seed=11)
    seeds = np.array([1, 5, 7, NUM_USERS + 2, NUM_USERS + 9])
    exact = NeighbourSampler(LightGCN(NUM_USERS, NUM_ITEMS, CONFIG, train).adj, [1000, 1000])
    a, b = model.sampler([1000, 1000]).sample(seeds, numpy_rng(1)), exact.sample(seeds, numpy_rng(1))
    np.testing.assert_array_equal(a.input_nodes, b.input_nodes)
    for x, y in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(x.crow, y.crow)
        np.testing.assert_array_equal(x.col, y.col)
        np.testing.assert_allclose(x.weight, y.weight, rtol=1e-6)
    # drawn (fan-out 2 < most degrees): the mean of many one-layer aggregations is the exact row of Ã·x
    sampler, x = model.sampler([2]), torch.from_numpy(np.random.default_rng(0).normal(size=(NUM_USERS + NUM_ITEMS, 3)))
    adj = normalized_adjacency(train).toarray()
    draws = []
    for i in range(3000):
        graph = sampler.sample(seeds, numpy_rng(2, 0, i))
        draws.append(graph.layers[0].aggregate(x[torch.from_numpy(graph.input_nodes)].float()).numpy())
    np.testing.assert_allclose(np.mean(draws, axis=0), adj[seeds] @ x.numpy(), atol=0.03)


def test_partitioned_training_is_refused_for_other_models_and_sampled_propagation() -> None:
    from graphrec.config import RunConfig, apply_overrides

    with pytest.raises(ConfigError, match=r'partitioned training runs LightGCN only \(model.name = "ngcf"\), got true'):
        apply_overrides(RunConfig(), ["model.name=ngcf", "train.partitioned=true"])
    with pytest.raises(ConfigError, match=r"false with model.fanouts and train.negative_candidates > 1"):
        apply_overrides(
            RunConfig(), ["train.partitioned=true", "model.fanouts=[5, 5, 5]", "train.negative_candidates=4"]
        )
    with pytest.raises(ConfigError, match=r"unknown method 'hash'; choose one of edge-balanced, min-cut"):
        make_partition(community_graph(), 2, "hash")
