"""The FastAPI application: routes, auth, error mapping. `create_app(run_dir, config)` is the factory.

Reads run on the event loop: they are short numpy + index calls, so this avoids a thread hop per request, and
well-formed ones are answered by the :class:`~graphrec.service.fastpath.FastReads` lane before FastAPI.
Writes never run on the loop: interactions and new items go through one bounded queue to the writer thread
(:mod:`graphrec.service.worker`), so an fsync, a lock held on the event log by another process (waited for at most
serve.db_busy_timeout_s, then 503 with Retry-After) or a new item's graph convolution never stalls reads.
Responses are serialised with `json.dumps` directly; every error is JSON `{"detail": "<one line>"}`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from graphrec.errors import GraphrecError, ServiceUnavailableError, UnknownIdError, one_line
from graphrec.service import schemas
from graphrec.service.config import TOKEN_ENV, ServeConfig
from graphrec.service.fastpath import FastReads
from graphrec.service.metrics import CONTENT_TYPE, Metrics
from graphrec.service.middleware import BodyLimitMiddleware, MetricsMiddleware
from graphrec.service.runtime import Service, open_service
from graphrec.service.writes import ItemExistsError

DOCS_PAGE = Path(__file__).with_name("static") / "docs.html"  # package data (pyproject.toml)

logger = logging.getLogger(__name__)

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": schemas.ErrorBody} for code in (400, 404, 422)}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    **{code: {"model": schemas.ErrorBody} for code in (401, 403, 409, 413, 415, 429, 503)},
}


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(_dumps(payload), status, media_type="application/json")


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": one_line(detail)}, status, headers=headers)


def create_app(run_dir: str | Path, config: ServeConfig | None = None) -> FastAPI:
    """The service for a trained run: loads it, replays the event log, and answers the /v1 API."""
    config = config or ServeConfig()
    service = open_service(run_dir, config)
    metrics = Metrics()
    metrics.gauge("graphrec_users", "Users the service can rank for.", lambda: len(service.state.users))
    metrics.gauge("graphrec_items", "Items the service can recommend.", lambda: len(service.state.items))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="graphrec",
        summary="Two-stage recommendations: ANN candidates, exact ranking.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's Swagger page loads its scripts from a CDN: blank offline; /docs is served below
        redoc_url=None,
    )
    app.state.service, app.state.metrics = service, metrics
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    _add_error_handlers(app)
    _add_read_routes(app, service, metrics)  # adds the FastReads lane around the above
    _add_write_routes(app, service)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: sees the fast lane, 413s and errors too
    return app


def _add_read_routes(app: FastAPI, service: Service, metrics: Metrics) -> None:
    state, max_k = service.state, service.config.max_k

    def recommendations_body(user_id: str, k: int) -> bytes:
        ranked = state.recommend(user_id, k)
        user_idx = state.users.lookup(user_id)
        shown = user_id if user_idx is None else state.users.id_of(user_idx)
        return _dumps({"user_id": shown, "k": k, "items": state.item_entries(ranked), "fallback": ranked.fallback})

    def similar_body(item_id: str, k: int) -> bytes | None:
        item_idx = state.items.lookup(item_id)
        if item_idx is None:
            return None  # the fast lane falls through; the route answers 404
        ranked = state.similar(item_id, k)
        return _dumps(
            {
                "item_id": state.items.id_of(item_idx),
                "k": k,
                "items": state.item_entries(ranked),
                "fallback": ranked.fallback,
            }
        )

    @app.get("/v1/users/{user_id}/recommendations", response_model=schemas.Recommendations, responses=_ERRORS)
    async def recommendations(user_id: str, k: int = Query(20, ge=1, le=max_k)) -> Response:
        """Top-k unseen items for a user; an unknown or cold user gets the popular items (fallback: popular)."""
        return Response(recommendations_body(user_id, k), media_type="application/json")

    @app.get("/v1/items/{item_id}/similar", response_model=schemas.SimilarItems, responses=_ERRORS)
    async def similar(item_id: str, k: int = Query(10, ge=1, le=max_k)) -> Response:
        """The k items most similar to an item (by embedding inner product), itself excluded."""
        body = similar_body(item_id, k)
        if body is None:
            state.items.index(item_id)  # raises UnknownIdError: 404
        return Response(body, media_type="application/json")

    # The same answers with the id as a query parameter, for ids a path segment cannot carry ('a/b', '..'): a
    # trained run's ids come from the user's files, which may hold them (the write routes refuse them instead).
    @app.get("/v1/recommendations", response_model=schemas.Recommendations, responses=_ERRORS)
    async def recommendations_by_query(
        user_id: str = Query(..., max_length=schemas.MAX_ID_LENGTH), k: int = Query(20, ge=1, le=max_k)
    ) -> Response:
        """As /v1/users/{user_id}/recommendations, the user id given as `?user_id=`."""
        return Response(recommendations_body(user_id, k), media_type="application/json")

    @app.get("/v1/similar", response_model=schemas.SimilarItems, responses=_ERRORS)
    async def similar_by_query(
        item_id: str = Query(..., max_length=schemas.MAX_ID_LENGTH), k: int = Query(10, ge=1, le=max_k)
    ) -> Response:
        """As /v1/items/{item_id}/similar, the item id given as `?item_id=`."""
        return await similar(item_id, k)

    routes = {route.path: route for route in app.routes if hasattr(route, "path")}
    app.add_middleware(
        FastReads,
        max_k=max_k,
        routes={
            ("users", "recommendations"): (recommendations_body, 20, routes["/v1/users/{user_id}/recommendations"]),
            ("items", "similar"): (similar_body, 10, routes["/v1/items/{item_id}/similar"]),
        },
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        """The API, listed from /openapi.json by a page shipped in the package (works offline: no CDN)."""
        return Response(DOCS_PAGE.read_bytes(), media_type="text/html; charset=utf-8")

    @app.get("/healthz", response_model=schemas.Health)
    async def healthz() -> Response:
        return _json(
            {
                "status": "ok",
                "model": service.run.config.model.name,
                "users": len(state.users),
                "items": len(state.items),
                "index": state.index.kind if state.index is not None else "exact scoring",
                "events_replayed": service.events_replayed,
                "writes": "enabled" if service.config.writes_enabled else "disabled",
            }
        )

    @app.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
    async def prometheus() -> Response:
        """Prometheus text format: request counts and latency histograms by route, method and status."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)


def _add_write_routes(app: FastAPI, service: Service) -> None:
    bearer = HTTPBearer(auto_error=False, description=f"the token in ${TOKEN_ENV} (or the configured token file)")

    async def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if not service.config.writes_enabled:
            raise _Refused(403, "writes are disabled on this service (started with --read-only)")
        if service.token is None:  # --dev-no-auth (loopback hosts only): the service refused to start otherwise
            retry_after = service.limiter.retry_after("")
            if retry_after is not None:
                raise _Refused(
                    429,
                    f"too many writes (--dev-no-auth); retry after {retry_after} s",
                    {"Retry-After": str(retry_after)},
                )
            return
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _Refused(401, "missing bearer token; send 'Authorization: Bearer <token>'")
        if not secrets.compare_digest(credentials.credentials.encode(), service.token.encode()):
            raise _Refused(401, "invalid bearer token")
        retry_after = service.limiter.retry_after(service.token)
        if retry_after is not None:
            rate, burst = service.config.write_rate, service.config.write_burst
            raise _Refused(
                429,
                f"too many writes with this token (the limit is {rate:g} per second, bursts of {burst}); "
                f"retry after {retry_after} s",
                {"Retry-After": str(retry_after)},
            )

    @app.post(
        "/v1/interactions",
        status_code=200,
        response_model=schemas.InteractionsAccepted,
        responses=_WRITE_ERRORS,
        dependencies=[Depends(authorised)],
    )
    async def interactions(body: schemas.Interactions) -> Response:
        """Record interactions (durable before this answers); seen items and user vectors update at once, and
        users seen for the first time become servable. Unknown items: 404, and nothing of the batch is kept."""
        rows = [row.model_dump() for row in body.interactions]
        accepted = await service.worker.run(service.writer.add_interactions, rows)
        return _json({**accepted.details, "seq": accepted.seq})

    @app.post(
        "/v1/items",
        status_code=201,
        response_model=schemas.NewItemAccepted,
        responses=_WRITE_ERRORS,
        dependencies=[Depends(authorised)],
    )
    async def new_item(body: schemas.NewItem) -> Response:
        """Add an item: embedded inductively (features, catalogue or fold-in from its users) and served by
        /similar and /recommendations as soon as this answers."""
        features = None if body.features is None else body.features.vector
        accepted = await service.worker.run(service.writer.add_item, body.item_id, features, body.users, body.vector)
        return _json({**accepted.details, "seq": accepted.seq}, status=201)


class _Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.headers = {"WWW-Authenticate": "Bearer"} if status == 401 else headers


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(_Refused)
    async def refused(_: Request, exc: _Refused) -> JSONResponse:
        return _error(exc.status, exc.detail, exc.headers)

    @app.exception_handler(ServiceUnavailableError)
    async def unavailable(_: Request, exc: ServiceUnavailableError) -> JSONResponse:
        return _error(503, str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in content_type.lower():
            return _error(
                415,
                f"request body must be JSON sent with 'Content-Type: application/json', "
                f"got content type {content_type or 'none'!r}",
            )
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(
                400,
                "request body is not valid JSON: "
                + "; ".join(str(e.get("ctx", {}).get("error", e.get("msg"))) for e in errors),
            )
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:10]]
        return _error(422, "; ".join(parts))

    @app.exception_handler(UnknownIdError)
    async def unknown(_: Request, exc: UnknownIdError) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(ItemExistsError)
    async def exists(_: Request, exc: ItemExistsError) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(GraphrecError)
    async def bad_input(_: Request, exc: GraphrecError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:  # a bug: still JSON, still one line
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error ({type(exc).__name__}); the service logged it with the traceback")
