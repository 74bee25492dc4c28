"""Bounds on what one client can make the service hold: request head size, open connections, write rate.

- :class:`WriteRateLimiter`: a token bucket per bearer token (one for all unauthenticated development writes);
  a write over the rate is answered 429 with ``Retry-After``.
- :func:`bounded_http_protocol`: uvicorn's httptools protocol with a cap on the request line + headers (431, counted
  while they arrive, so a huge header is refused before it is held in memory) and on open connections (a request
  on a connection beyond the cap gets 503 with ``Retry-After`` and the connection is closed). Both answer with the
  service's JSON error shape.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

from starlette.types import Receive, Scope, Send

from graphrec.errors import UnsupportedError

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is part of the serve extra; server.py falls back to h11
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

RETRY_AFTER_S = 1


class WriteRateLimiter:
    """`rate` writes per second per key, in bursts of up to `burst`; rate 0 turns the limit off."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when counted)
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int | None:
        """Take one write for `key`: None when allowed, else the whole seconds until one is allowed again."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))


def json_error(status: int, detail: str, retry_after_s: int | None = None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of an error answer in the service's shape, `{"detail": ...}`, closing the connection."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(retry_after_s).encode()))
    return headers, body


def _error_app(status: int, detail: str, retry_after_s: int | None = None) -> Any:
    headers, body = json_error(status, detail, retry_after_s)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


_REASONS = {431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


def bounded_http_protocol(max_header_bytes: int, max_connections: int) -> type:
    """A uvicorn protocol class (uvicorn.run(http=...)) enforcing both limits; needs httptools."""
    if HttpToolsProtocol is None:
        raise UnsupportedError(
            "serve: the header and connection limits need uvicorn's httptools parser, got none installed; "
            "install it with `pip install httptools` (graphrec[serve] includes it)"
        )
    too_large = (
        f"request line and headers exceed the limit of {max_header_bytes} bytes; send smaller headers "
        "(the limit is serve.max_header_bytes, --max-header-bytes)"
    )
    too_many = (
        f"the service has {max_connections} open connections (its limit); retry after {RETRY_AFTER_S} s "
        "(the limit is serve.max_connections, --max-connections)"
    )

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True  # parsing a request line and headers (or waiting for the next request)
            self._heads_done = 0
            self._head_bytes = 0  # bytes of the current head received in chunks that did not complete it

        def data_received(self, data: bytes) -> None:
            started_in_head, heads_done = self._in_head, self._heads_done
            super().data_received(data)
            if not (started_in_head and self._in_head and heads_done == self._heads_done):
                self._head_bytes = 0  # a head completed (or a body was read): the uncounted part ≤ one chunk
                return
            self._head_bytes += len(data)
            if self._head_bytes > max_header_bytes and not self.transport.is_closing():
                self._reply_and_close(431, too_large)

        def _reply_and_close(self, status: int, detail: str) -> None:
            headers, body = json_error(status, detail)
            head = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])
            head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
            self.transport.write(head + b"\r\n" + body)
            self.transport.close()

        def on_headers_complete(self) -> None:
            self._in_head, self._heads_done = False, self._heads_done + 1
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > max_header_bytes:
                app = _error_app(431, too_large)
            elif len(self.connections) > max_connections:
                app = _error_app(503, too_many, RETRY_AFTER_S)
            else:
                super().on_headers_complete()
                return
            self.app, saved = app, self.app  # uvicorn's on_headers_complete starts the cycle with self.app
            try:
                super().on_headers_complete()
            finally:
                self.app = saved

        def on_message_complete(self) -> None:
            self._in_head = True
            super().on_message_complete()

    return BoundedHttpToolsProtocol
