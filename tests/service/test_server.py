"""`graphrec serve` as a real uvicorn process: kill -9 while a client writes; after a restart every acknowledged
write is there."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from graphrec.cli import main
from tests.service.conftest import TOKEN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(run_dir: Path, db: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graphrec",
            "-q",
            "serve",
            str(run_dir),
            "--port",
            str(port),
            "--db",
            str(db),
            "--index",
            "exact",
        ],
        env={**os.environ, "GRAPHREC_API_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_healthy(process: subprocess.Popen, port: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            return json.loads(connection.getresponse().read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError("graphrec serve did not answer /healthz in time")


def _write_until_dead(port: int, acknowledged: list[str], stop: threading.Event) -> None:
    """One keep-alive connection posting one new user per request; records a user only after its 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    i = 0
    while not stop.is_set():
        user = f"writer-{i}"
        body = json.dumps({"interactions": [{"user_id": user, "item_id": i % 50, "timestamp": i}]})
        try:
            connection.request("POST", "/v1/interactions", body, headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            return  # the server died mid-request: this write was never acknowledged
        if response.status == 200:
            acknowledged.append(user)
        i += 1


def test_kill_9_loses_no_acknowledged_write(service_run: Path, tmp_path: Path) -> None:
    db, port = tmp_path / "events.sqlite3", _free_port()
    server = _start(service_run, db, port)
    try:
        _wait_healthy(server, port)
        acknowledged: list[str] = []
        stop = threading.Event()
        writer = threading.Thread(target=_write_until_dead, args=(port, acknowledged, stop))
        writer.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)  # while the client is still writing
        server.wait(timeout=10)
        stop.set()
        writer.join(timeout=10)
    finally:
        server.kill()
    assert len(acknowledged) >= 30
    server = _start(service_run, db, port)
    try:
        health = _wait_healthy(server, port)
        assert health["events_replayed"] >= len(acknowledged)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for user in acknowledged:
            connection.request("GET", f"/v1/users/{user}/recommendations?k=5")
            body = json.loads(connection.getresponse().read())
            assert body["fallback"] is None, user  # known, with its interaction: served by the model
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_refuses_to_start_without_a_token(service_run: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("GRAPHREC_API_TOKEN", raising=False)
    assert main(["serve", str(service_run), "--port", "1"]) == 2
    assert "write endpoints need a bearer token" in capsys.readouterr().err
