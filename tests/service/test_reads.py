"""Read endpoints against a brute-force reference, their exact shapes, and every 4xx path of the reads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from graphrec.runs import load_run


@pytest.fixture(scope="module")
def reference(service_run: Path) -> tuple[np.ndarray, np.ndarray, object]:
    run = load_run(service_run)
    users, items = run.embeddings()
    return users.numpy(), items.numpy(), run


def brute_force_top(user_vec: np.ndarray, items: np.ndarray, seen: np.ndarray, k: int) -> list[int]:
    scores = items @ user_vec
    scores[seen] = -np.inf
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


def test_recommendations_shape_and_reference(client: TestClient, reference) -> None:
    users, items, run = reference
    for user_idx in (0, 7, 123):
        user_id = run.user_ids.id_of(user_idx)
        response = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 15})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"user_id", "k", "items", "fallback"}
        assert body["user_id"] == user_id and body["k"] == 15 and body["fallback"] is None
        assert all(set(entry) == {"item_id", "score"} for entry in body["items"])
        seen = run.train[user_idx].indices
        expected = brute_force_top(users[user_idx], items, seen, 15)
        got = [run.item_ids.index(entry["item_id"]) for entry in body["items"]]
        assert got == expected
        assert not set(got) & set(seen.tolist())
        scores = [entry["score"] for entry in body["items"]]
        np.testing.assert_allclose(scores, items[got] @ users[user_idx], rtol=1e-5)


def test_default_k_and_ids_compared_by_string_form(client: TestClient, reference) -> None:
    _, _, run = reference
    user_id = run.user_ids.id_of(3)
    assert isinstance(user_id, int)
    body = client.get(f"/v1/users/{user_id}/recommendations").json()
    assert len(body["items"]) == 20 and body["user_id"] == 3  # "3" in the path finds the integer id 3
    assert isinstance(body["items"][0]["item_id"], int)


def test_unknown_user_gets_popular_fallback(client: TestClient, reference) -> None:
    _, _, run = reference
    body = client.get("/v1/users/nobody-knows-me/recommendations", params={"k": 5}).json()
    assert body["fallback"] == "popular" and body["user_id"] == "nobody-knows-me"
    counts = np.asarray(run.train.sum(axis=0)).ravel()
    expected = [run.item_ids.id_of(int(i)) for i in np.lexsort((np.arange(len(counts)), -counts))[:5]]
    assert [entry["item_id"] for entry in body["items"]] == expected
    assert [entry["score"] for entry in body["items"]] == sorted(counts, reverse=True)[:5]


def test_similar_matches_brute_force(client: TestClient, reference) -> None:
    _, items, run = reference
    item_id = run.item_ids.id_of(10)
    body = client.get(f"/v1/items/{item_id}/similar", params={"k": 8}).json()
    assert set(body) == {"item_id", "k", "items", "fallback"} and body["fallback"] is None
    expected = brute_force_top(items[10], items, np.array([10]), 8)
    assert [run.item_ids.index(entry["item_id"]) for entry in body["items"]] == expected
    assert len(client.get(f"/v1/items/{item_id}/similar").json()["items"]) == 10


def test_hnsw_index_agrees_with_exact_on_small_data(make_client, reference, tmp_path: Path) -> None:
    _, _, run = reference
    hnsw, exact = make_client(index="hnsw"), make_client(index="exact", db=str(tmp_path / "exact.sqlite3"))
    for user_idx in (1, 2):
        path = f"/v1/users/{run.user_ids.id_of(user_idx)}/recommendations"
        got, expected = hnsw.get(path).json()["items"], exact.get(path).json()["items"]
        assert [e["item_id"] for e in got] == [e["item_id"] for e in expected]
        np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in expected], rtol=1e-5)
    assert hnsw.get("/healthz").json()["index"] == "hnsw"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/v1/items/no-such-item/similar", 404, "item id 'no-such-item' is not known to this service"),
        ("/v1/users/0/recommendations?k=0", 422, "query.k: Input should be greater than or equal to 1"),
        ("/v1/users/0/recommendations?k=1001", 422, "query.k: Input should be less than or equal to 1000"),
        ("/v1/users/0/recommendations?k=ten", 422, "query.k: Input should be a valid integer"),
        ("/v1/items/0/similar?k=-3", 422, "query.k: Input should be greater than or equal to 1"),
        ("/v1/nothing-here", 404, "Not Found"),
    ],
)
def test_read_errors(client: TestClient, path: str, status: int, message: str) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_k_up_to_the_limit(client: TestClient, reference) -> None:
    _, _, run = reference
    body = client.get("/v1/users/0/recommendations", params={"k": 1000}).json()
    assert len(body["items"]) == len(run.item_ids) - run.train[0].nnz  # every unseen item, no more


def test_healthz_docs_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model"] == "lightgcn" and health["writes"] == "enabled"
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", docs.text)  # nothing fetched from elsewhere: offline
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/users/{user_id}/recommendations",
        "/v1/items/{item_id}/similar",
        "/v1/items",
        "/v1/interactions",
        "/healthz",
        "/metrics",
    ):
        assert path in paths


def test_metrics_count_requests_and_histograms(client: TestClient) -> None:
    for _ in range(3):
        client.get("/v1/users/0/recommendations")
    client.get("/v1/items/nope/similar")
    text = client.get("/metrics").text
    route = 'route="/v1/users/{user_id}/recommendations"'
    assert f'graphrec_http_requests_total{{method="GET",{route},status="200"}} 3' in text
    assert 'graphrec_http_requests_total{method="GET",route="/v1/items/{item_id}/similar",status="404"} 1' in text
    buckets = [
        line
        for line in text.splitlines()
        if line.startswith("graphrec_http_request_duration_seconds_bucket") and route in line
    ]
    counts = [int(line.rsplit(" ", 1)[1]) for line in buckets]
    assert counts == sorted(counts) and counts[-1] == 3 and 'le="+Inf"' in buckets[-1]
    assert "# TYPE graphrec_http_request_duration_seconds histogram" in text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize(
    "path", ["/v1/users/4/recommendations", "/v1/items/4/similar", "/v1/users/ghost/recommendations"]
)
def test_fast_lane_answers_like_the_fastapi_route(client: TestClient, path: str) -> None:
    fast = client.get(path, params={"k": 7})  # exactly "k=7": the fast lane
    routed = client.get(path, params={"k": 7, "extra": "x"})  # anything else: FastAPI's route
    default_fast, default_routed = client.get(path), client.get(path, params={"extra": "x"})
    assert fast.status_code == routed.status_code == 200
    assert fast.json() == routed.json() and default_fast.json() == default_routed.json()
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    route = "/v1/users/{user_id}/recommendations" if "users" in path else "/v1/items/{item_id}/similar"
    assert f'route="{route}",status="200"}} 4' in client.get("/metrics").text
