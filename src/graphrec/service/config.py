"""Settings of `graphrec serve`, and where the write token comes from."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphrec.errors import ConfigError

TOKEN_ENV = "GRAPHREC_API_TOKEN"
DEFAULT_DB_NAME = "serving_events.sqlite3"


@dataclass
class ServeConfig:
    """How the HTTP service runs. Defaults suit one process on a small machine."""

    host: str = "127.0.0.1"
    port: int = 8000
    db: str | None = None  # SQLite event log; default RUN_DIR/serving_events.sqlite3
    index: str = "hnsw"  # hnsw | ivf | exact; a saved RUN_DIR/index of this kind is loaded, else one is built
    index_options: dict[str, Any] = field(default_factory=dict)  # passed to graphrec.index.make_index
    candidates: int = 200  # retrieval depth: ANN candidates (after removing seen items) re-scored exactly
    max_k: int = 1000
    max_body_bytes: int = 1_000_000
    writes_enabled: bool = True
    token_file: str | None = None  # read when GRAPHREC_API_TOKEN is not set
    dev_no_auth: bool = False  # allow writes without a token (development only)
    popularity_refresh_s: float = 1.0  # the popularity fallback list is re-sorted at most this often

    def db_path(self, run_dir: Path) -> Path:
        return Path(self.db) if self.db is not None else Path(run_dir) / DEFAULT_DB_NAME

    def check(self) -> None:
        if not 1 <= self.candidates <= 100_000:
            raise ConfigError(f"candidates must be between 1 and 100000, got {self.candidates}")
        if not 1 <= self.max_k <= 100_000:
            raise ConfigError(f"max_k must be between 1 and 100000, got {self.max_k}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")


def resolve_token(config: ServeConfig) -> str | None:
    """The bearer token for write endpoints: $GRAPHREC_API_TOKEN, else the token file; None when neither is set.

    Raises ConfigError when writes are enabled, no token is configured and the development flag is not given.
    """
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is None and config.token_file is not None:
        path = Path(config.token_file)
        if not path.is_file():
            raise ConfigError(f"token file '{path}' does not exist; write the API token into it or set {TOKEN_ENV}")
        token = path.read_text(encoding="utf-8").strip() or None
        if token is None:
            raise ConfigError(f"token file '{path}' is empty; write the API token into it or set {TOKEN_ENV}")
    if token is None and config.writes_enabled and not config.dev_no_auth:
        raise ConfigError(
            f"write endpoints need a bearer token and none is configured; set {TOKEN_ENV} (or --token-file), "
            "or pass --read-only, or --dev-no-auth for unauthenticated writes in development"
        )
    return token
