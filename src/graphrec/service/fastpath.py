"""A fast lane for the two hot read routes, in front of FastAPI.

FastAPI's per-request work (dependency solving, parameter validation, response handling) costs about as much as
the retrieval itself (~0.3 ms each on this machine), so well-formed GET requests for recommendations and similar
items are answered here directly, with the same handler functions as the FastAPI routes. Anything unusual — an
unknown item, a missing, malformed or out-of-range k, extra query parameters — falls through to FastAPI, which
validates it and writes the error. The routes stay declared in FastAPI for the OpenAPI docs and for those cases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[str, int], bytes | None]  # (id from the path, k) → JSON body, or None to fall through

_HEADERS = [(b"content-type", b"application/json")]


class FastReads:
    """Answer GET /v1/{collection}/{id}/{action}?k=N for the registered (collection, action) pairs."""

    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], tuple[Handler, int, Any]], max_k: int) -> None:
        self.app, self.routes, self.max_k = app, routes, max_k  # routes: → (handler, default k, FastAPI route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            parts = scope["path"].split("/")  # ASGI paths are already percent-decoded
            if len(parts) == 5 and parts[1] == "v1" and parts[3]:
                entry = self.routes.get((parts[2], parts[4]))
                if entry is not None:
                    handler, default_k, route = entry
                    k = self._k(scope["query_string"], default_k)
                    body = handler(parts[3], k) if k is not None else None
                    if body is not None:
                        scope["route"] = route  # so metrics label it like FastAPI would
                        await send(
                            {
                                "type": "http.response.start",
                                "status": 200,
                                "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())],
                            }
                        )
                        await send({"type": "http.response.body", "body": body})
                        return
        await self.app(scope, receive, send)

    def _k(self, query: bytes, default_k: int) -> int | None:
        """k from a query string that is empty or exactly "k=<digits>" within range; None for anything else."""
        if not query:
            return default_k
        if query[:2] != b"k=" or not query[2:].isdigit() or len(query) > 12:
            return None
        k = int(query[2:])
        return k if 1 <= k <= self.max_k else None
