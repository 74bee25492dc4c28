"""The durable event log of the service: every accepted write, in order, in SQLite.

A write is appended (and committed with ``synchronous=FULL``, i.e. fsynced through the WAL) before the service
acknowledges it; on startup the service replays the log on top of the trained run. The log also records which
run it belongs to, so a log is never replayed onto a different model.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphrec.errors import ConfigError

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL, received_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str  # "interactions" | "item"
    body: dict[str, Any]


def run_fingerprint(run_dir: Path) -> str:
    """A digest of the run's config, id lists and model weights: what the logged writes were applied on top of
    (tens of milliseconds for a Gowalla-size model)."""
    digest = hashlib.sha256()
    for name in ("config.json", "user_ids.json", "item_ids.json", "model.safetensors"):
        path = run_dir / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()[:32]


class EventStore:
    """Append-only SQLite log. One connection, used under a lock (SQLite serialises writers anyway)."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, so each append is exactly one explicit transaction.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ConfigError(f"event log {self.path}: SQLite refused WAL mode (got {mode!r}); use a local disk path")
        self._conn.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._check_fingerprint(fingerprint)

    def _check_fingerprint(self, fingerprint: str) -> None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()
        if row is None:
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('run', ?)", (fingerprint,))
        elif row[0] != fingerprint:
            raise ConfigError(
                f"event log {self.path} was written for a different run (fingerprint {row[0]}, this run "
                f"{fingerprint}); pass --db with a new path for this run"
            )

    def append(self, kind: str, body: dict[str, Any]) -> int:
        """Store one event durably; return its sequence number."""
        text = json.dumps(body, separators=(",", ":"))
        with self._lock:
            cursor = self._conn.execute("BEGIN IMMEDIATE")
            try:
                cursor.execute(
                    "INSERT INTO events (kind, body, received_at) VALUES (?, ?, ?)", (kind, text, time.time())
                )
                assert cursor.lastrowid is not None  # set by every successful INSERT
                seq = int(cursor.lastrowid)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return seq

    def events(self) -> Iterator[Event]:
        """Every stored event, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT seq, kind, body FROM events ORDER BY seq").fetchall()
        for seq, kind, body in rows:
            yield Event(int(seq), str(kind), json.loads(body))

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
