"""Fixtures of the service tests: one small trained LightGCN run, and apps over it with a fresh event log each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import tiny_config

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="session")
def service_run(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from graphrec.runs import train

    run_dir = tmp_path_factory.mktemp("service") / "lightgcn"
    train(tiny_config(planted_dir, "lightgcn", epochs=4), run_dir)
    return run_dir


@pytest.fixture
def make_client(
    service_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., TestClient]]:
    """make_client(**ServeConfig fields) → a started TestClient; the event log is in tmp_path unless db= is given."""
    from graphrec.service import ServeConfig, create_app

    monkeypatch.setenv("GRAPHREC_API_TOKEN", TOKEN)
    clients: list[TestClient] = []

    def make(run_dir: Path = service_run, **fields: object) -> TestClient:
        fields.setdefault("db", str(tmp_path / "events.sqlite3"))
        fields.setdefault("index", "exact")
        client = TestClient(create_app(run_dir, ServeConfig(**fields)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
