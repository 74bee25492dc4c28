"""Ids on the write path follow the read path's rules: everything a write accepts can be read back through the
/v1/users/{user_id}/… and /v1/items/{item_id}/… routes; ids a URL path segment cannot carry are refused with 422."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import AUTH

UNREADABLE = "so this one could not be read back through /v1/users/<id>/… or /v1/items/<id>/…"


@pytest.mark.parametrize(
    ("user_id", "message"),
    [
        ("a/b", "ids must not contain '/', control characters or lone surrogates"),
        ("../../etc/passwd", "got '../../etc/passwd'"),
        ("", "ids must not be empty, '.' or '..'"),
        (".", "got '.'"),
        ("..", "got '..'"),
        ("line\nbreak", "got 'line\\\\nbreak'"),
        ("nul\x00", "got 'nul\\\\x00'"),
        ("x" * 257, "ids must be at most 256 characters"),
        (2**53, "integer ids must be within ±(2^53-1), the range JSON carries exactly, got an integer of 16 digits"),
    ],
)
def test_ids_that_cannot_be_read_back_are_refused_on_write(client: TestClient, user_id, message: str) -> None:
    for path, body in (
        ("/v1/interactions", {"interactions": [{"user_id": user_id, "item_id": 1}]}),
        ("/v1/items", {"item_id": user_id, "features": None, "users": []}),
    ):
        response = client.post(path, json=body, headers=AUTH)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert message.replace("\\\\", "\\") in detail and "\n" not in detail
        assert detail.startswith(("body.interactions.0.user_id: ", "body.item_id: "))
        if isinstance(user_id, str):
            assert UNREADABLE in detail
    assert client.get("/healthz").json()["events_replayed"] == 0  # nothing was logged


@pytest.mark.parametrize(
    "user_id",
    ["a b", "100%", "what?", "#hash", "ü-ñ-漢字", "...", ".a", "a.", "back\\slash", "x" * 256, 2**53 - 1, -5, "0"],
)
def test_everything_written_can_be_read_back(client: TestClient, user_id) -> None:
    body = {"interactions": [{"user_id": user_id, "item_id": 1}]}
    response = client.post("/v1/interactions", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    read = client.get(f"/v1/users/{quote(str(user_id), safe='')}/recommendations", params={"k": 3})
    assert read.status_code == 200
    assert read.json()["user_id"] == user_id or str(read.json()["user_id"]) == str(user_id)
    if user_id not in ("0",):  # "0" is the trained user 0 (ids match by string form)
        assert read.json()["fallback"] is None  # served by the model: the write is what made the user known
    if isinstance(user_id, str) and user_id != "0":
        item = client.post("/v1/items", json={"item_id": f"i-{user_id}"[:256], "users": []}, headers=AUTH)
        assert item.status_code == 201, item.text
        similar = client.get(f"/v1/items/{quote(f'i-{user_id}'[:256], safe='')}/similar", params={"k": 3})
        assert similar.status_code == 200 and similar.json()["item_id"] == f"i-{user_id}"[:256]


def test_integral_json_numbers_are_integer_ids(client: TestClient) -> None:
    response = client.post(
        "/v1/interactions",
        content=b'{"interactions": [{"user_id": 7.0, "item_id": 1.0}]}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    half = client.post(
        "/v1/interactions",
        content=b'{"interactions": [{"user_id": 7.5, "item_id": 1}]}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert half.status_code == 422 and "body.interactions.0.user_id" in half.json()["detail"]


@pytest.fixture(scope="module")
def slash_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained on a CSV whose ids a URL path segment cannot carry ('u/0', '..', 'i/3')."""
    from graphrec.config import config_from_dict
    from graphrec.runs import train

    root = tmp_path_factory.mktemp("slash")
    items = ("i/0", "i/1", "i/2", "i/3", "x")
    rows = ["user_id,item_id"] + [f"{u},{i}" for u in ("u/0", "..", "u/2", "u/3") for i in items]
    rows += ["u/0,y", "..,z", "u/2,y"]
    (root / "ratings.csv").write_text("\n".join(rows) + "\n")
    config = config_from_dict(
        {
            "model": {"name": "mf", "embedding_dim": 4},
            "data": {"interactions": str(root / "ratings.csv"), "test_ratio": 0.0, "valid_ratio": 0.0},
            "train": {"epochs": 1, "show_progress": False, "batch_size": 8},
        }
    )
    train(config, root / "run")
    return root / "run"


def test_ids_with_a_slash_from_training_data_are_read_by_query(make_client, slash_run: Path) -> None:
    client = make_client(run_dir=slash_run)
    by_path = client.get(f"/v1/users/{quote('u/0', safe='')}/recommendations")
    assert by_path.status_code == 404  # the path form cannot carry the id ...
    for user_id in ("u/0", ".."):  # ... the query form can
        read = client.get("/v1/recommendations", params={"user_id": user_id, "k": 2})
        assert read.status_code == 200, read.text
        assert read.json()["user_id"] == user_id and read.json()["fallback"] is None
    similar = client.get("/v1/similar", params={"item_id": "i/3", "k": 2})
    assert similar.status_code == 200 and similar.json()["item_id"] == "i/3"
    assert len(similar.json()["items"]) == 2
    unknown = client.get("/v1/similar", params={"item_id": "i/9"})
    assert unknown.status_code == 404 and "i/9" in unknown.json()["detail"]
    assert client.get("/v1/recommendations", params={"k": 2}).status_code == 422  # user_id is required
