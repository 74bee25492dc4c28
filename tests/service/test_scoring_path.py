"""The exact scoring path: a model that only scores (itemknn) served without vectors or an index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient

from graphrec.runs import load_run
from tests.conftest import tiny_config
from tests.service.conftest import AUTH


@pytest.fixture(scope="module")
def itemknn_run(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from graphrec.runs import train

    run_dir = tmp_path_factory.mktemp("service-itemknn") / "itemknn"
    train(tiny_config(planted_dir, "itemknn", epochs=0), run_dir)
    return run_dir


def expected_top(run_dir: Path, user_idx: int, extra: list[int], k: int) -> list[object]:
    """Slow reference: the user's history (training items + `extra`) times S, seen items removed, ties by index."""
    run = load_run(run_dir)
    history = set(run.train[user_idx].indices.tolist()) | set(extra)
    row = np.zeros(len(run.item_ids), dtype=np.float64)
    similarity = run.model.scorer().similarity.toarray()
    for item in history:
        row += similarity[item]
    order = sorted((i for i in range(len(row)) if i not in history), key=lambda i: (-row[i], i))[:k]
    return [run.item_ids.id_of(i) for i in order]


def test_recommendations_follow_new_interactions_exactly(
    itemknn_run: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(itemknn_run)
    run = load_run(itemknn_run)
    user_id = run.user_ids.id_of(3)
    before = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10}).json()
    assert [e["item_id"] for e in before["items"]] == expected_top(itemknn_run, 3, [], 10)
    picked = run.item_ids.index(before["items"][0]["item_id"])
    body = {"interactions": [{"user_id": user_id, "item_id": run.item_ids.id_of(picked)}]}
    assert client.post("/v1/interactions", json=body, headers=AUTH).status_code == 200
    after = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10}).json()
    assert [e["item_id"] for e in after["items"]] == expected_top(itemknn_run, 3, [picked], 10)
    assert client.get("/healthz").json()["index"] == "exact scoring"


def test_new_items_are_refused_with_a_reason(itemknn_run: Path, make_client: Callable[..., TestClient]) -> None:
    client = make_client(itemknn_run)
    answer = client.post("/v1/items", json={"item_id": "new", "users": [], "features": None}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "model 'itemknn' only scores (item–item similarities of the training data) "
        "and cannot take new items while serving; retrain with them"
    )


def test_similar_items_are_the_neighbour_table(itemknn_run: Path, make_client: Callable[..., TestClient]) -> None:
    client = make_client(itemknn_run)
    run = load_run(itemknn_run)
    similarity = sp.csr_matrix(run.model.scorer().similarity)
    row = similarity[0].toarray().ravel()
    row[0] = -np.inf
    order = sorted(range(len(row)), key=lambda i: (-row[i], i))[:5]
    served = client.get(f"/v1/items/{run.item_ids.id_of(0)}/similar", params={"k": 5}).json()["items"]
    assert [e["item_id"] for e in served] == [run.item_ids.id_of(i) for i in order]
