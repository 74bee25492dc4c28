"""`graphrec evaluate` against an independent implementation of the official LightGCN evaluator's formulas, on the
exported embeddings of data whose test split names users and items that training never saw (point 10 of issue 12).

The official code (LightGCN-PyTorch, dataloader.py / Procedure.Test / utils.py) builds its user and item counts as
the largest id over train **and** test plus one, scores every test user against every item with the training
items pushed to -1024, takes the top K, and averages over **every** test user:

    recall@K = hits / |test items of u|
    ndcg@K   = DCG / IDCG, DCG = sum_j r_j / log2(j + 1), IDCG over the first min(|test items of u|, K) positions

An item training never saw has no trained embedding, so it is never recommended (score -inf here); a user training
never saw gets no hit (scores 0) but counts in the average.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphrec.cli import main
from graphrec.data import generate_demo_dir
from graphrec.runs import evaluate_run, train
from tests.conftest import tiny_config

K_VALUES = (5, 20)


def _read_lightgcn(path: Path) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for line in path.read_text().splitlines():
        ids = [int(v) for v in line.split()]
        if len(ids) > 1:
            out.setdefault(ids[0], []).extend(ids[1:])
    return out


def official_metrics(data_dir: Path, export_dir: Path, ks: tuple[int, ...]) -> dict[str, float]:
    """Recall@K / NDCG@K exactly as the official evaluator defines them, from the raw files and the export."""
    train, test = _read_lightgcn(data_dir / "train.txt"), _read_lightgcn(data_dir / "test.txt")
    n_users = max(*train, *test) + 1
    m_items = max(*(max(v) for v in train.values()), *(max(v) for v in test.values())) + 1
    user_ids = json.loads((export_dir / "user_ids.json").read_text())
    item_ids = json.loads((export_dir / "item_ids.json").read_text())
    users_e = np.load(export_dir / "user_embeddings.npy").astype(np.float64)
    items_e = np.load(export_dir / "item_embeddings.npy").astype(np.float64)
    user_row = {int(u): i for i, u in enumerate(user_ids)}
    item_cols = np.array([int(i) for i in item_ids])
    sums = {f"{name}@{k}": 0.0 for k in ks for name in ("recall", "ndcg", "precision")}
    test_users = sorted(test)
    for u in test_users:
        ground_truth = set(test[u])
        max_k = max(ks)
        if u in user_row:
            rating = np.full(m_items, -np.inf)
            rating[item_cols] = items_e @ users_e[user_row[u]]
            rating[train.get(u, [])] = -(1 << 10)
            top = np.argsort(-rating, kind="stable")[:max_k]
            r = np.array([float(i in ground_truth) for i in top])
        else:
            r = np.zeros(max_k)  # a user training never saw: no hit
        for k in ks:
            hits = r[:k]
            ideal = np.zeros(k)
            ideal[: min(len(test[u]), k)] = 1.0
            discount = 1.0 / np.log2(np.arange(2, k + 2))
            sums[f"recall@{k}"] += hits.sum() / len(test[u])
            sums[f"precision@{k}"] += hits.sum() / k
            sums[f"ndcg@{k}"] += (hits * discount).sum() / (ideal * discount).sum()
    assert n_users > len(user_ids) and m_items > len(item_ids), "the data must name ids that training never saw"
    return {name: total / len(test_users) for name, total in sums.items()} | {"num_users": len(test_users)}


@pytest.fixture(scope="module")
def unseen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted demo data, plus test interactions naming 3 new items and 2 new users."""
    out = tmp_path_factory.mktemp("unseen")
    generate_demo_dir(out, seed=0)
    train, test = _read_lightgcn(out / "train.txt"), _read_lightgcn(out / "test.txt")
    max_user = max(*train, *test)
    max_item = max(*(max(v) for v in train.values()), *(max(v) for v in test.values()))
    new_items = [max_item + 1, max_item + 2, max_item + 3]
    lines = []
    for u in sorted(test):
        items = test[u] + ([new_items[u % 3]] if u % 5 == 0 else [])  # some known users get an unknown item
        lines.append(" ".join(str(v) for v in [u, *items]))
    lines.append(f"{max_user + 1} {test[min(test)][0]} {new_items[0]}")  # a new user: a known and a new item
    lines.append(f"{max_user + 2} {new_items[1]}")
    (out / "test.txt").write_text("\n".join(lines) + "\n")
    return out


def test_evaluate_equals_the_official_formulas_on_exported_embeddings(
    unseen_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(unseen_dir, "lightgcn", epochs=2)
    config.data.valid_ratio = 0.0  # the official split: train.txt is the training set
    train(config, tmp_path / "run")
    assert main(["-q", "export", str(tmp_path / "run"), "--out", str(tmp_path / "exp")]) == 0
    capsys.readouterr()
    assert main(["-q", "evaluate", str(tmp_path / "run"), "--split", "test", "--k", "5", "20", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    expected = official_metrics(unseen_dir, tmp_path / "exp", K_VALUES)
    assert got["num_users"] == expected["num_users"]
    for name in ("recall@5", "recall@20", "ndcg@5", "ndcg@20", "precision@20"):
        assert abs(got[name] - expected[name]) <= 1e-6, name
    known_users = sorted(_read_lightgcn(unseen_dir / "test.txt"))[:-2]  # the last two are the new users
    known_with_new_item = sum(1 for u in known_users if u % 5 == 0)
    assert got["unseen_users"] == 2
    assert got["unseen_interactions"] == known_with_new_item + 3  # the new users hold 2 + 1 interactions
    assert evaluate_run(tmp_path / "run", "test", [20])["recall@20"] == got["recall@20"]  # Python = CLI
