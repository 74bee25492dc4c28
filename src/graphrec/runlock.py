"""Guarding a run directory while training writes it: one training process at a time (an `fcntl.flock` on
``train.lock``), and no silent restart over a run that is already there.

A directory that holds a run (a finished one, or the checkpoint of an interrupted one) is trained into again only
with ``resume`` (continue from its checkpoint) or ``overwrite`` (delete the run's files and start over). The lock is
released when the process ends, however it ends; the lock file itself stays (an empty file naming the last holder).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from graphrec.errors import RunDirError

logger = logging.getLogger(__name__)

LOCK_FILE = "train.lock"
# What says a directory holds a run, first match named in the refusal: a finished run, then an interrupted one.
RUN_MARKERS = (
    "summary.json",
    "checkpoint.safetensors",
    "checkpoint.prev.safetensors",
    "model.safetensors",
    "config.json",
)
# Every file and directory a training writes into its run directory (what --overwrite deletes; nothing else is).
RUN_FILES = (
    *RUN_MARKERS,
    "config.toml",
    "user_ids.json",
    "item_ids.json",
    "train_interactions.npz",
    "data_stats.json",
    "item_features.npy",
    "train_timestamps.npy",
    "metrics.jsonl",
    "training_curve.png",
    "report.html",
    "selection.json",
    "index",  # graphrec index's default: built from the earlier model
)


def existing_run(run_dir: Path) -> str | None:
    """The file that shows `run_dir` holds a run (see RUN_MARKERS), or None."""
    return next((name for name in RUN_MARKERS if (run_dir / name).exists()), None)


def check_run_target(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """RunDirError when `run_dir` is a file, or holds a run and neither `resume` nor `overwrite` is given."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"run directory '{run_dir}': expected a directory, got an existing file; pass a new --out")
    found = None if resume or overwrite else existing_run(run_dir)
    if found is not None:
        what = "a finished run" if found == "summary.json" else "an unfinished run"
        raise RunDirError(
            f"run directory '{run_dir}' already holds {what} ({found}); pass --resume to continue it, --overwrite "
            "to train it again from scratch, or a new --out"
        )


def clear_run(run_dir: Path) -> None:
    """Delete the files an earlier training wrote into `run_dir` (RUN_FILES only; anything else is kept)."""
    removed = []
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    if removed:
        logger.info("--overwrite: removed %s of the earlier run in %s", ", ".join(removed), run_dir)


@contextmanager
def training_lock(run_dir: Path, enabled: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on `run_dir` while training writes it (created if needed); RunDirError at once when
    another process holds it. A directory created here and left holding only the lock file (training refused
    before writing anything) is removed again. `enabled` False (ranks that write nothing): no lock, no directory."""
    if not enabled:
        yield
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")  # held open (and locked) for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunDirError(
                f"run directory '{run_dir}' is being trained by {holder} (it holds {path}); wait for it to "
                "finish, or pass another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            if created and [p.name for p in run_dir.iterdir()] == [LOCK_FILE]:
                path.unlink()
                run_dir.rmdir()
    finally:
        handle.close()  # releases the lock
