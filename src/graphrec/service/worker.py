"""The one thread that writes: every write (validate, append to the event log, apply) runs here, off the event loop.

The event loop never waits on the disk: a write is put on a bounded queue and the request awaits its future, so
reads (healthz, recommendations) keep being answered while a write waits for SQLite (an fsync, or a lock held by
another process, bounded by the store's busy timeout). A full queue is refused at once with
:class:`~graphrec.errors.ServiceUnavailableError` (503 with ``Retry-After``) rather than queueing without bound.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from graphrec.errors import ServiceUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


class WriteWorker:
    """A daemon thread running submitted calls one at a time, in order; `max_pending` bounds the queue."""

    def __init__(self, max_pending: int, retry_after_s: int = 1) -> None:
        self.max_pending, self.retry_after_s = max_pending, retry_after_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="graphrec-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `fn(*args)`; its future holds the result or the exception. ServiceUnavailableError when full."""
        future: Future[T] = Future()
        try:
            self._queue.put_nowait((future, fn, args))
        except queue.Full:
            raise ServiceUnavailableError(
                f"the service has {self.max_pending} writes waiting (the write queue is full); nothing was "
                f"written; retry after {self.retry_after_s} s",
                self.retry_after_s,
            ) from None
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the writer thread, awaited without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - the awaiting request maps it to a response
                future.set_exception(exc)

    def close(self, timeout_s: float = 30.0) -> None:
        """Run what is queued, then stop the thread (waits at most `timeout_s`)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("the writer thread did not finish its queued writes within %.0f s", timeout_s)
