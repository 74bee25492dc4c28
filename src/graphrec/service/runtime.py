"""Open a service for a run directory: load the run, build or load the index, open the event log, replay it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphrec.index import VectorIndex, build_index, load_run_index
from graphrec.models.scoring import HistoryScorer
from graphrec.rundir import LoadedRun, load_run
from graphrec.service.config import ServeConfig, resolve_token
from graphrec.service.limits import WriteRateLimiter
from graphrec.service.state import ServingState
from graphrec.service.store import EventStore, run_fingerprint
from graphrec.service.worker import WriteWorker
from graphrec.service.writes import Writer

logger = logging.getLogger(__name__)


@dataclass
class Service:
    config: ServeConfig
    run: LoadedRun
    state: ServingState
    store: EventStore
    writer: Writer
    token: str | None
    events_replayed: int
    worker: WriteWorker  # the one thread that runs writes (the event loop never waits on the disk)
    limiter: WriteRateLimiter  # writes per second per token

    def close(self) -> None:
        self.worker.close()
        self.store.close()


def open_service(run_dir: str | Path, config: ServeConfig) -> Service:
    """Everything the HTTP layer needs, with the event log replayed on top of the trained run."""
    config.check()
    token = resolve_token(config)  # fail before the slow part when the token setup is wrong
    run_dir = Path(run_dir)
    started = time.perf_counter()
    run = load_run(run_dir)
    state = _state_for(run_dir, run, config)
    store = EventStore(
        config.db_path(run_dir),
        run_fingerprint(run_dir),
        busy_timeout_s=config.db_busy_timeout_s,
        read_only=not config.writes_enabled,  # opened read-only: nothing is written next to the log
    )
    writer = Writer(run, state, store)
    try:
        replayed = writer.replay()
    except BaseException:
        store.close()
        raise
    logger.info(
        "serving %s (%s): %d users, %d items, %d logged writes replayed, ready in %.1f s",
        run_dir,
        run.config.model.name,
        len(state.users),
        len(state.items),
        replayed,
        time.perf_counter() - started,
    )
    worker = WriteWorker(config.write_queue)
    limiter = WriteRateLimiter(config.write_rate, config.write_burst)
    return Service(config, run, state, store, writer, token, replayed, worker, limiter)


def _state_for(run_dir: Path, run: LoadedRun, config: ServeConfig) -> ServingState:
    """Vectors and an ANN index for an embedding model; the exact scoring path for a model that only scores."""
    scorer = run.scorer()
    if isinstance(scorer, HistoryScorer):
        return ServingState(
            run.user_ids.ids,
            run.item_ids.ids,
            np.zeros((len(run.user_ids), 0), np.float32),
            np.zeros((len(run.item_ids), 0), np.float32),
            run.train,
            None,
            popularity_refresh_s=config.popularity_refresh_s,
            scorer=scorer,
        )
    users, items = (t.detach().cpu().numpy().astype(np.float32) for t in run.embeddings())
    return ServingState(
        run.user_ids.ids,
        run.item_ids.ids,
        users,
        items,
        run.train,
        _index_for(run_dir, run, items, config),
        candidates=config.candidates,
        popularity_refresh_s=config.popularity_refresh_s,
    )


def _index_for(run_dir: Path, run: LoadedRun, items: np.ndarray, config: ServeConfig) -> VectorIndex:
    """The run's saved index (RUN_DIR/index from 'graphrec index') when it matches; otherwise a fresh build."""
    saved = run_dir / "index"
    if (saved / "index.json").is_file() and not config.index_options:
        index, item_ids = load_run_index(saved)
        if index.kind == config.index and item_ids.ids == run.item_ids.ids and index.dim == items.shape[1]:
            logger.info("loaded the %s index saved in %s", index.kind, saved)
            return index
        logger.info(
            "the index in %s does not match (kind %s, %d items); building a %s index",
            saved,
            index.kind,
            len(index),
            config.index,
        )
    started = time.perf_counter()
    index = build_index(items, config.index, **config.index_options)
    logger.info("built a %s index over %d items in %.1f s", config.index, len(index), time.perf_counter() - started)
    return index
