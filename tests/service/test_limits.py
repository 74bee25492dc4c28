"""Bounds: request head size (431) and open connections (503) in the real uvicorn process, the per-token write rate
(429), and --dev-no-auth only on loopback hosts."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from graphrec.cli import main
from graphrec.service.config import is_loopback
from graphrec.service.limits import WriteRateLimiter
from tests.service.conftest import AUTH, TOKEN
from tests.service.test_server import _free_port, _wait_healthy


@pytest.fixture(scope="module")
def bounded_server(service_run: Path, tmp_path_factory: pytest.TempPathFactory):
    port = _free_port()
    db = tmp_path_factory.mktemp("limits") / "events.sqlite3"
    args = ["--max-header-bytes", "4096", "--max-connections", "3", "--index", "exact", "--db", str(db)]
    process = subprocess.Popen(
        [sys.executable, "-m", "graphrec", "-q", "serve", str(service_run), "--port", str(port), *args],
        env={**os.environ, "GRAPHREC_API_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_healthy(process, port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(port: int, headers: dict) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/healthz", headers=headers)
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_request_heads_over_the_limit_get_431(bounded_server: int) -> None:
    assert _get(bounded_server, {"X-Pad": "a" * 3000})[0] == 200
    status, headers, body = _get(bounded_server, {"X-Pad": "a" * 5000})
    assert status == 431 and headers["content-type"] == "application/json"
    assert body["detail"].startswith("request line and headers exceed the limit of 4096 bytes")


def test_a_head_that_never_ends_is_cut_off_while_it_arrives(bounded_server: int) -> None:
    with socket.create_connection(("127.0.0.1", bounded_server), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        answer = b""
        try:
            for _ in range(64):  # 1 MiB of one header value, never finished; refused long before the end
                sock.sendall(b"a" * 16384)
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert b'"detail": "request line and headers exceed the limit of 4096 bytes' in answer


def test_connections_over_the_limit_get_503(bounded_server: int) -> None:
    idle = [socket.create_connection(("127.0.0.1", bounded_server), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)
        status, headers, body = _get(bounded_server, {})
        assert status == 503 and headers["retry-after"] == "1"
        assert body["detail"].startswith("the service has 3 open connections (its limit); retry after 1 s")
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert _get(bounded_server, {})[0] == 200


def test_write_rate_per_token_gets_429(make_client) -> None:
    client: TestClient = make_client(write_rate=0.5, write_burst=2)
    body = {"interactions": [{"user_id": 0, "item_id": 1}]}
    assert [client.post("/v1/interactions", json=body, headers=AUTH).status_code for _ in range(2)] == [200, 200]
    refused = client.post("/v1/interactions", json=body, headers=AUTH)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert refused.json()["detail"] == (
        "too many writes with this token (the limit is 0.5 per second, bursts of 2); retry after 2 s"
    )
    assert client.get("/v1/users/0/recommendations").status_code == 200  # reads are not limited


def test_rate_limiter_refills_and_zero_means_no_limit(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr("graphrec.service.limits.time.monotonic", lambda: now[0])
    limiter = WriteRateLimiter(rate=10, burst=2)
    assert [limiter.retry_after("t") for _ in range(3)] == [None, None, 1]
    assert limiter.retry_after("other") is None  # per key
    now[0] += 0.11  # one token back
    assert limiter.retry_after("t") is None and limiter.retry_after("t") == 1
    unlimited = WriteRateLimiter(rate=0, burst=1)
    assert all(unlimited.retry_after("t") is None for _ in range(1000))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.com", "::"])
def test_dev_no_auth_is_refused_off_loopback(service_run: Path, host: str, monkeypatch, capsys) -> None:
    monkeypatch.delenv("GRAPHREC_API_TOKEN", raising=False)
    assert main(["serve", str(service_run), "--dev-no-auth", "--host", host, "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("graphrec: error: --dev-no-auth serves unauthenticated writes and is allowed only on a ")
    assert f"got --host {host!r}; set GRAPHREC_API_TOKEN" in err


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""))
