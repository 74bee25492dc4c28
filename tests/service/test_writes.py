"""Write endpoints: auth, every 4xx path, new items and users served at once, the fold-in rule, restart-replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from graphrec.errors import ConfigError
from graphrec.runs import load_run
from tests.conftest import tiny_config
from tests.service.conftest import AUTH

OK_ROW = {"user_id": 0, "item_id": 1, "timestamp": 1_700_000_000}


@pytest.fixture(scope="module")
def reference(service_run: Path) -> tuple[np.ndarray, np.ndarray, object]:
    run = load_run(service_run)
    users, items = run.embeddings()
    return users.numpy(), items.numpy(), run


def recs(client: TestClient, user_id: object, k: int = 20) -> dict:
    response = client.get(f"/v1/users/{user_id}/recommendations", params={"k": k})
    assert response.status_code == 200
    return response.json()


# ------------------------------------------------------------------------------------------------------- auth
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}])
def test_writes_need_the_bearer_token(client: TestClient, headers: dict) -> None:
    for path, body in (
        ("/v1/interactions", {"interactions": [OK_ROW]}),
        ("/v1/items", {"item_id": "x", "features": None, "users": []}),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert "token" in response.json()["detail"]
    assert client.get("/healthz").json()["items"] == 300  # nothing was added


def test_refuses_to_start_without_token(service_run: Path, monkeypatch, tmp_path: Path) -> None:
    from graphrec.service import ServeConfig, create_app

    monkeypatch.delenv("GRAPHREC_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="write endpoints need a bearer token and none is configured"):
        create_app(service_run, ServeConfig(db=str(tmp_path / "e.sqlite3"), index="exact"))
    client = TestClient(
        create_app(service_run, ServeConfig(db=str(tmp_path / "e.sqlite3"), index="exact", dev_no_auth=True))
    )
    assert client.post("/v1/interactions", json={"interactions": [OK_ROW]}).status_code == 200
    read_only = TestClient(
        create_app(service_run, ServeConfig(db=str(tmp_path / "e.sqlite3"), index="exact", writes_enabled=False))
    )
    response = read_only.post("/v1/interactions", json={"interactions": [OK_ROW]})
    assert response.status_code == 403 and "--read-only" in response.json()["detail"]


def test_token_file(make_client, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRAPHREC_API_TOKEN")
    (tmp_path / "token").write_text("from-file\n")
    client = make_client(token_file=str(tmp_path / "token"))
    body = {"interactions": [OK_ROW]}
    assert client.post("/v1/interactions", json=body, headers={"Authorization": "Bearer from-file"}).status_code == 200
    assert client.post("/v1/interactions", json=body, headers=AUTH).status_code == 401


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/interactions", b'{"interactions": [', 400, "request body is not valid JSON"),
        ("/v1/interactions", b"[1, 2]", 422, "body: Input should be a valid dictionary"),
        ("/v1/interactions", b'{"interactions": []}', 422, "body.interactions: List should have at least 1 item"),
        ("/v1/interactions", b'{"interactions": [{"user_id": 1}]}', 422, "body.interactions.0.item_id: Field required"),
        ("/v1/interactions", b'{"interactions": [{"user_id": 1.5, "item_id": 2}]}', 422, "body.interactions.0.user_id"),
        (
            "/v1/interactions",
            b'{"interactions": [{"user_id": 1, "item_id": "no-such"}]}',
            404,
            "item id(s) ['no-such'] are not known to this service",
        ),
        ("/v1/items", b'{"item_id": 5, "features": null, "users": []}', 409, "item id '5' already exists"),
        (
            "/v1/items",
            b'{"item_id": "n", "features": null, "users": [0, "ghost"]}',
            404,
            "user id(s) ['ghost'] are not known to this service",
        ),
        (
            "/v1/items",
            b'{"item_id": "n", "features": {"vector": [1.0, 2.0]}, "users": []}',
            422,
            "model 'lightgcn' takes no item features",
        ),
        ("/v1/items", b'{"item_id": "n", "features": {"title": "x"}, "users": []}', 422, "body.features.vector"),
        (
            "/v1/items",
            b'{"item_id": "n", "vector": [1.0, 2.0], "users": []}',
            422,
            "model 'lightgcn' takes no item features; send \"vector\": null",
        ),
        ("/v1/items", b'{"features": null}', 422, "body.item_id: Field required"),
    ],
)
def test_write_errors(client: TestClient, path: str, body: bytes, status: int, message: str) -> None:
    response = client.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_body_must_be_sent_as_json(client: TestClient, content_type: str | None) -> None:
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    response = client.post(
        "/v1/interactions", content=b'{"interactions": [{"user_id": 1, "item_id": 2}]}', headers=headers
    )
    assert response.status_code == 415 and "Content-Type: application/json" in response.json()["detail"]


def test_item_users_are_deduplicated_by_string_form(client: TestClient) -> None:
    response = client.post("/v1/items", json={"item_id": "z", "users": [1, "1", 2]}, headers=AUTH)
    assert response.status_code == 201 and response.json()["users"] == 2


def test_rejected_batch_changes_nothing(client: TestClient) -> None:
    before = recs(client, 0)
    rows = [{"user_id": 0, "item_id": before["items"][0]["item_id"]}, {"user_id": 0, "item_id": "no-such"}]
    assert client.post("/v1/interactions", json={"interactions": rows}, headers=AUTH).status_code == 404
    assert recs(client, 0) == before
    assert client.get("/healthz").json()["events_replayed"] == 0


def test_oversized_bodies_413(make_client) -> None:
    client = make_client(max_body_bytes=2048)
    rows = [{"user_id": 0, "item_id": i} for i in range(200)]
    response = client.post("/v1/interactions", json={"interactions": rows}, headers=AUTH)
    assert response.status_code == 413 and "limit is 2048 bytes" in response.json()["detail"]
    chunked = client.post(
        "/v1/interactions",
        content=iter([b'{"interactions": [' + b" " * 1500] * 3),
        headers={**AUTH, "Content-Type": "application/json"},
    )  # no Content-Length
    assert chunked.status_code == 413 and "exceeds the limit of 2048 bytes" in chunked.json()["detail"]


# ------------------------------------------------------------------------------------------- served at once
def test_new_item_is_served_by_similar_and_recommendations(client: TestClient, reference) -> None:
    users, items, run = reference
    closest = [int(u) for u in np.argsort(-(users @ users[0]))[:15]]
    body = {"item_id": "fresh-1", "features": None, "users": [run.user_ids.id_of(u) for u in closest]}
    response = client.post("/v1/items", json=body, headers=AUTH)
    assert response.status_code == 201
    assert response.json() == {"item_id": "fresh-1", "users": 15, "embedded_from": "fold-in", "seq": 1}
    new_vector = users[closest].mean(axis=0)  # fold-in: the mean of its users' embeddings
    # Where the new item ranks for every user that has not seen it (brute force); the best-placed user's list
    # must show it at exactly that rank.
    unseen = np.ones((len(users), len(items)), dtype=bool)
    unseen[run.train.nonzero()] = False
    scores = np.where(unseen, users @ items.T, -np.inf)
    new_scores = users @ new_vector
    ranks = (scores > new_scores[:, None]).sum(axis=1)
    ranks[closest] = len(items)  # its users have seen it
    best = int(np.argmin(ranks))
    got = recs(client, run.user_ids.id_of(best), k=max(20, int(ranks[best]) + 1))
    assert got["items"][int(ranks[best])]["item_id"] == "fresh-1"
    similar = client.get("/v1/items/fresh-1/similar", params={"k": 5}).json()
    scores = items @ new_vector
    assert [e["item_id"] for e in similar["items"]] == [run.item_ids.id_of(int(i)) for i in np.argsort(-scores)[:5]]
    neighbour = similar["items"][0]["item_id"]
    neighbour_idx = run.item_ids.index(neighbour)
    expected = np.append(items @ items[neighbour_idx], new_vector @ items[neighbour_idx])
    expected[neighbour_idx] = -np.inf
    rank_of_new = int((expected > expected[-1]).sum())
    listed = client.get(f"/v1/items/{neighbour}/similar", params={"k": rank_of_new + 1}).json()["items"]
    assert listed[rank_of_new]["item_id"] == "fresh-1"


def test_new_user_becomes_servable(client: TestClient, reference) -> None:
    _, items, run = reference
    assert recs(client, "newcomer")["fallback"] == "popular"
    rows = [{"user_id": "newcomer", "item_id": run.item_ids.id_of(i), "timestamp": 1} for i in (3, 4, 4)]
    response = client.post("/v1/interactions", json={"interactions": rows}, headers=AUTH)
    assert response.status_code == 200 and response.json() == {"accepted": 3, "new_users": 1, "seq": 1}
    got = recs(client, "newcomer", k=10)
    assert got["fallback"] is None and got["user_id"] == "newcomer"
    vector = items[[3, 4]].mean(axis=0)  # a new user is the mean of their items
    scores = items @ vector
    scores[[3, 4]] = -np.inf
    assert [e["item_id"] for e in got["items"]] == [run.item_ids.id_of(int(i)) for i in np.argsort(-scores)[:10]]


def test_interaction_folds_into_a_trained_user(client: TestClient, reference) -> None:
    users, items, run = reference
    user_idx = 5
    before = recs(client, run.user_ids.id_of(user_idx))
    first = before["items"][0]["item_id"]
    rows = [{"user_id": str(run.user_ids.id_of(user_idx)), "item_id": first}]  # the id as a string: same user
    assert client.post("/v1/interactions", json={"interactions": rows}, headers=AUTH).json()["new_users"] == 0
    after = recs(client, run.user_ids.id_of(user_idx), k=10)
    assert first not in [e["item_id"] for e in after["items"]]  # seen at once
    v, mean, n = users[user_idx], items[run.item_ids.index(first)], run.train[user_idx].nnz
    folded = (n * v + np.linalg.norm(v) / np.linalg.norm(mean) * mean) / (n + 1)
    scores = items @ folded
    scores[np.append(run.train[user_idx].indices, run.item_ids.index(first))] = -np.inf
    assert [e["item_id"] for e in after["items"]] == [run.item_ids.id_of(int(i)) for i in np.argsort(-scores)[:10]]
    np.testing.assert_allclose(after["items"][0]["score"], scores.max(), rtol=1e-5)


# ---------------------------------------------------------------------------------------------- durability
def test_restart_replays_the_log(make_client, tmp_path: Path, reference) -> None:
    _, _, run = reference
    first = make_client()
    users = [run.user_ids.id_of(u) for u in (1, 2, 3)]
    assert (
        first.post("/v1/items", json={"item_id": 9001, "features": None, "users": users}, headers=AUTH).status_code
        == 201
    )
    rows = [{"user_id": "late", "item_id": 9001}, {"user_id": "late", "item_id": 7}, {"user_id": 4, "item_id": 8}]
    assert first.post("/v1/interactions", json={"interactions": rows}, headers=AUTH).status_code == 200
    answers = {
        path: first.get(path).json()
        for path in (
            "/v1/users/late/recommendations",
            "/v1/users/4/recommendations",
            "/v1/users/1/recommendations",
            "/v1/items/9001/similar",
            "/v1/items/8/similar",
        )
    }
    restarted = make_client()  # the same event log
    assert restarted.get("/healthz").json()["events_replayed"] == 2
    assert restarted.get("/healthz").json()["items"] == 301
    for path, answer in answers.items():
        assert restarted.get(path).json() == answer
    assert restarted.post("/v1/items", json={"item_id": "9001", "users": []}, headers=AUTH).status_code == 409


def test_log_of_another_run_is_refused(service_run: Path, planted_dir: Path, tmp_path: Path, make_client) -> None:
    from graphrec.runs import train

    make_client()  # writes the log's run fingerprint
    other = tmp_path / "mf"
    train(tiny_config(planted_dir, "mf", epochs=1), other)
    with pytest.raises(ConfigError, match="was written for a different run"):
        make_client(run_dir=other)


def test_feature_model_items_from_feature_vectors(planted_dir: Path, tmp_path_factory, make_client) -> None:
    from graphrec.runs import train

    run_dir = tmp_path_factory.mktemp("service-pinsage") / "run"
    train(tiny_config(planted_dir, "pinsage", epochs=1), run_dir)
    client = make_client(run_dir=run_dir, db=str(run_dir.parent / "events.sqlite3"))
    width = int(client.app.state.service.run.model.features.shape[1])
    wrong = client.post("/v1/items", json={"item_id": "f1", "features": {"vector": [0.5] * (width + 1)}}, headers=AUTH)
    assert wrong.status_code == 422
    assert f"features.vector has {width + 1} values, the model expects {width}" in wrong.json()["detail"]
    missing = client.post("/v1/items", json={"item_id": "not-in-catalogue", "users": [1]}, headers=AUTH)
    assert missing.status_code == 422 and "catalogue" in missing.json()["detail"]
    good = client.post(
        "/v1/items", json={"item_id": "f1", "features": {"vector": [0.5] * width}, "users": [1, 2]}, headers=AUTH
    )
    assert good.status_code == 201 and good.json()["embedded_from"] == "features"
    similar = client.get("/v1/items/f1/similar", params={"k": 5}).json()
    assert similar["fallback"] is None and len(similar["items"]) == 5
    assert "f1" not in [e["item_id"] for e in client.get("/v1/users/1/recommendations").json()["items"]]  # seen


def test_interactions_wait_in_a_thread_while_another_write_runs(client: TestClient) -> None:
    import threading
    import time

    writer = client.app.state.service.writer
    writer._lock.acquire()  # a new item being embedded, say
    threading.Timer(0.3, writer._lock.release).start()
    started = time.monotonic()
    response = client.post("/v1/interactions", json={"interactions": [OK_ROW]}, headers=AUTH)
    assert response.status_code == 200 and time.monotonic() - started >= 0.3
    assert response.json()["seq"] == 1
