"""Settings of `graphrec serve`, and where the write token comes from."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphrec.config.params import Interval, Options, Section, param, validate
from graphrec.errors import ConfigError

TOKEN_ENV = "GRAPHREC_API_TOKEN"
DEFAULT_DB_NAME = "serving_events.sqlite3"


@dataclass
class ServeConfig(Section):
    """How the HTTP service runs. Defaults suit one process on a small machine. Values are checked when it is built
    (graphrec.config.params; keys are named serve.<field>)."""

    section = "serve"

    host: str = "127.0.0.1"
    port: int = param(8000, Interval(int, 1, 65535))  # a TCP port (0, "any free port", is not announced)
    db: str | None = param(None, example="serving_events.sqlite3")  # SQLite event log; default RUN_DIR/...
    # hnsw | ivf | exact; a saved RUN_DIR/index of this kind is loaded, else one is built
    index: str = param("hnsw", Options(("hnsw", "ivf", "exact")))
    index_options: dict[str, Any] = param({})  # noqa: RUF009 - passed to graphrec.index.make_index
    # retrieval depth: ANN candidates (after removing seen items) re-scored exactly
    candidates: int = param(200, Interval(int, 1, 100_000))
    max_k: int = param(1000, Interval(int, 1, 100_000))
    max_body_bytes: int = param(1_000_000, Interval(int, 1024, None))
    # request line + headers: larger heads are refused with 431 while they arrive
    max_header_bytes: int = param(16_384, Interval(int, 1024, None))
    # open connections; a request on one more gets 503 with Retry-After
    max_connections: int = param(1024, Interval(int, 1, None))
    # sustained writes per second per bearer token (0: no limit), and the burst allowed above it; over it: 429
    write_rate: float = param(1000.0, Interval(float, 0, None))
    write_burst: int = param(2000, Interval(int, 1, None))
    write_queue: int = param(1024, Interval(int, 1, None))  # writes waiting for the writer thread; beyond: 503
    # how long a write waits for an event-log lock held by another process before it is answered 503
    db_busy_timeout_s: float = param(0.1, Interval(float, 0, 60))
    writes_enabled: bool = True
    token_file: str | None = param(None, example="api_token.txt")  # read when GRAPHREC_API_TOKEN is not set
    dev_no_auth: bool = False  # allow writes without a token (development only)
    # the popularity fallback list is re-sorted at most this often
    popularity_refresh_s: float = param(1.0, Interval(float, 0, None))

    def db_path(self, run_dir: Path) -> Path:
        return Path(self.db) if self.db is not None else Path(run_dir) / DEFAULT_DB_NAME

    def check(self) -> None:
        """Check the declared constraints again (after fields were changed in place)."""
        validate(self)


def resolve_token(config: ServeConfig) -> str | None:
    """The bearer token for write endpoints: $GRAPHREC_API_TOKEN, else the token file; None when neither is set.

    Raises ConfigError when writes are enabled, no token is configured and the development flag is not given, and
    when the development flag is given with a host that is not a loopback address.
    """
    if config.dev_no_auth and not is_loopback(config.host):
        raise ConfigError(
            f"--dev-no-auth serves unauthenticated writes and is allowed only on a loopback host (127.0.0.1, ::1, "
            f"localhost), got --host {config.host!r}; set {TOKEN_ENV} (or --token-file) to serve on other hosts"
        )
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is None and config.token_file is not None:
        path = Path(config.token_file)
        if not path.is_file():
            raise ConfigError(
                f"token file {str(path)!r} does not exist; write the API token into it or set {TOKEN_ENV}"
            )
        try:
            token = path.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"token file {str(path)!r} cannot be read as UTF-8 text ({exc}); write the API token into it or "
                f"set {TOKEN_ENV}"
            ) from exc
        if token is None:
            raise ConfigError(f"token file {str(path)!r} is empty; write the API token into it or set {TOKEN_ENV}")
    if token is None and config.writes_enabled and not config.dev_no_auth:
        raise ConfigError(
            f"write endpoints need a bearer token and none is configured; set {TOKEN_ENV} (or --token-file), "
            "or pass --read-only, or --dev-no-auth for unauthenticated writes in development"
        )
    return token


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or "localhost") only accepts connections from this machine."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
