"""`graphrec serve`: one uvicorn process in front of :func:`graphrec.service.app.create_app`."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

from graphrec.service.config import ServeConfig

logger = logging.getLogger(__name__)


def serve(run_dir: str | Path, config: ServeConfig) -> None:
    """Load the run, replay the event log, and serve until interrupted (blocking)."""
    import uvicorn

    _single_threaded_math()
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which SIMD build it tried, line by line
    from graphrec.service.app import create_app

    app = create_app(run_dir, config)
    # The loaded run is long-lived: move it out of the collector's view, so collections triggered by per-request
    # garbage do not traverse it (full collections otherwise show up as latency spikes).
    gc.collect()
    gc.freeze()
    logger.info("listening on http://%s:%d (OpenAPI docs at /docs)", config.host, config.port)
    # Access logs cost more than a recommendation; /metrics counts requests instead.
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False, **_limits(config))


def _limits(config: ServeConfig) -> dict[str, Any]:
    """uvicorn settings bounding request heads and connections (graphrec.service.limits); h11's own head limit
    (and uvicorn's plain-text 503 on too many connections) where httptools is missing."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover - part of the serve extra
        return {
            "http": "h11",
            "h11_max_incomplete_event_size": config.max_header_bytes,
            "limit_concurrency": config.max_connections,
        }
    from graphrec.service.limits import bounded_http_protocol

    return {"http": bounded_http_protocol(config.max_header_bytes, config.max_connections)}


def _single_threaded_math() -> None:
    """One query at a time per thread: library thread pools would only compete with the event loop for the cores."""
    import torch

    torch.set_num_threads(1)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # the exact index needs no faiss
        pass
