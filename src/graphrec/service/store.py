"""The durable event log of the service: every accepted write, in order, in SQLite.

A write is appended (one autocommit INSERT, committed with ``synchronous=FULL``, i.e. fsynced through the WAL) before
the service acknowledges it; on startup the service replays the log on top of the trained run. The log also records
which run it belongs to, so a log is never replayed onto a different model.

Appends wait at most ``busy_timeout_s`` for a lock held by another process, then fail with
:class:`~graphrec.errors.ServiceUnavailableError` (the service answers 503). A read-only service opens the log
read-only and never writes next to it (no ``-shm``, no ``-wal``): see :meth:`EventStore.__init__`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphrec.errors import ConfigError, ServiceUnavailableError

logger = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL, received_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_TABLES = {"events", "meta", "sqlite_sequence"}
RETRY_AFTER_S = 1


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

    def __init__(self, path: Path, fingerprint: str, busy_timeout_s: float = 0.1, read_only: bool = False) -> None:
        """Open (read-write: create) the log. Read-only: a missing log is an empty one; an existing one is opened
        with ``mode=ro``, or, where SQLite cannot use its ``-shm`` file there (a read-only directory), as
        ``immutable`` — from a private copy when a ``-wal`` file holds writes not yet checkpointed into it.
        ConfigError, naming the path, when the path is a directory, not a SQLite database, or cannot be opened."""
        self.path, self.read_only, self.busy_timeout_s = Path(path), read_only, busy_timeout_s
        self._lock = threading.Lock()
        self._copy: Path | None = None  # a private copy of a read-only log with a WAL (removed on close)
        if self.path.is_dir():
            raise ConfigError(
                f"event log {str(self.path)!r} is a directory; pass --db with a file path "
                f"(e.g. {str(self.path / 'serving_events.sqlite3')!r})"
            )
        self._conn: sqlite3.Connection | None = None
        try:
            if read_only:
                self._conn = self._open_read_only() if self.path.exists() else None
            else:
                self._conn = self._open_read_write()
            self._check_fingerprint(fingerprint)
        except sqlite3.Error as exc:
            self.close()
            raise self._open_error(exc) from exc

    # ------------------------------------------------------------------------------------------------ opening
    def _open_read_write(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"event log {str(self.path)!r}: cannot create its directory ({exc.strerror}); pass --db with a "
                "path in a writable directory"
            ) from exc
        # isolation_level=None: autocommit, so each append is exactly one INSERT and one transaction.
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=self.busy_timeout_s)
        self._conn = conn
        self._check_tables(conn)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ConfigError(
                f"event log {str(self.path)!r}: SQLite refused WAL mode (got {mode!r}); use a local disk path"
            )
        conn.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            conn.execute(statement)
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        try:
            conn = self._connect_uri(self.path, "mode=ro")
            self._check_tables(conn)  # the first read: where a missing, uncreatable -shm shows
            return conn
        except sqlite3.OperationalError as exc:
            wal = self.path.with_name(self.path.name + "-wal")
            if not (wal.is_file() and wal.stat().st_size > 0):
                logger.info("event log %s opened as immutable (SQLite: %s)", self.path, exc)
                conn = self._connect_uri(self.path, "mode=ro&immutable=1")
            else:  # immutable would ignore the WAL's writes: read a private copy of both files instead
                self._copy = Path(tempfile.mkdtemp(prefix="graphrec-events-"))
                shutil.copyfile(self.path, self._copy / "events.sqlite3")
                shutil.copyfile(wal, self._copy / "events.sqlite3-wal")
                logger.info("event log %s read from a copy with its WAL (SQLite: %s)", self.path, exc)
                conn = sqlite3.connect(self._copy / "events.sqlite3", check_same_thread=False, isolation_level=None)
            self._check_tables(conn)
            return conn

    @staticmethod
    def _connect_uri(path: Path, options: str) -> sqlite3.Connection:
        uri = f"file:{urllib.parse.quote(str(path.resolve()))}?{options}"
        return sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)

    def _check_tables(self, conn: sqlite3.Connection) -> None:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables - _TABLES:
            raise ConfigError(
                f"{str(self.path)!r} is a SQLite database but not a graphrec event log (it has tables "
                f"{sorted(tables - _TABLES)[:5]}); pass --db with a new path (the service creates the log)"
            )

    def _check_fingerprint(self, fingerprint: str) -> None:
        if self._conn is None:
            return
        has_meta = self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'run'").fetchone() if has_meta else None
        if row is None and not self.read_only:
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('run', ?)", (fingerprint,))
        elif row is not None and row[0] != fingerprint:
            raise ConfigError(
                f"event log {str(self.path)!r} was written for a different run (fingerprint {row[0]}, this run "
                f"{fingerprint}); pass --db with a new path for this run"
            )

    def _open_error(self, exc: sqlite3.Error) -> ConfigError:
        text = str(exc)
        if "not a database" in text:
            return ConfigError(
                f"event log {str(self.path)!r} is not a SQLite database (SQLite: {text}); pass --db with a new "
                "path (the service creates the log) or the path of this run's log"
            )
        if "locked" in text or "busy" in text:
            return ConfigError(
                f"event log {str(self.path)!r} is locked by another process (SQLite: {text}); stop the other "
                "writer, or pass --db with another path"
            )
        return ConfigError(
            f"event log {str(self.path)!r} cannot be opened (SQLite: {text}); make it and its directory readable "
            "and writable, pass --db with another path, or serve with --read-only"
        )

    # -------------------------------------------------------------------------------------------------- use
    def append(self, kind: str, body: dict[str, Any]) -> int:
        """Store one event durably; return its sequence number. ServiceUnavailableError when the log is locked by
        another process for longer than the busy timeout, or cannot be written (read-only, disk full, I/O error)."""
        text = json.dumps(body, separators=(",", ":"))
        with self._lock:
            if self._conn is None or self.read_only:
                raise ServiceUnavailableError("the event log is open read-only; nothing was written")
            try:  # autocommit: one statement, one transaction (the GIL is released once, around the commit)
                cursor = self._conn.execute(
                    "INSERT INTO events (kind, body, received_at) VALUES (?, ?, ?)", (kind, text, time.time())
                )
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        assert cursor.lastrowid is not None  # set by every successful INSERT
        return int(cursor.lastrowid)

    def _unavailable(self, exc: sqlite3.Error) -> ServiceUnavailableError:
        logger.warning("event log %s: append failed: %s", self.path, exc)
        text = str(exc)
        if "locked" in text or "busy" in text:
            waited = round(self.busy_timeout_s * 1000)
            return ServiceUnavailableError(
                f"the event log is locked by another process (SQLite: {text}, after waiting {waited} ms); "
                f"nothing was written; retry after {RETRY_AFTER_S} s",
                RETRY_AFTER_S,
            )
        return ServiceUnavailableError(
            f"the event log cannot be written (SQLite: {text}); nothing was written; retry after {RETRY_AFTER_S} s "
            "(the service's operator must free disk space or fix the log's permissions)",
            RETRY_AFTER_S,
        )

    def events(self) -> Iterator[Event]:
        """Every stored event, oldest first."""
        if self._conn is None:
            return
        with self._lock:
            has_events = self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone()
            rows = (
                self._conn.execute("SELECT seq, kind, body FROM events ORDER BY seq").fetchall() if has_events else []
            )
        for seq, kind, body in rows:
            yield Event(int(seq), str(kind), json.loads(body))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._copy is not None:
                shutil.rmtree(self._copy, ignore_errors=True)
                self._copy = None
