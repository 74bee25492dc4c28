"""Atomic writes: the file appears whole, with the mode the user's umask gives (not mkstemp's 0600)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphrec.io import atomic_save_npy, atomic_write_text, current_umask


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_files_get_the_mode_of_the_umask(tmp_path: Path, umask: None, mask: int) -> None:
    os.umask(mask)
    assert current_umask() == mask
    atomic_write_text(tmp_path / "a.json", "{}")
    atomic_save_npy(tmp_path / "b.npy", [1, 2])
    assert _mode(tmp_path / "a.json") == _mode(tmp_path / "b.npy") == 0o666 & ~mask


def test_every_file_of_a_run_follows_the_umask(planted_dir: Path, tmp_path: Path, umask: None) -> None:
    from graphrec.runs import export_run, train
    from tests.conftest import tiny_config

    train(tiny_config(planted_dir, "popularity", epochs=1), tmp_path / "run")
    export_run(tmp_path / "run", tmp_path / "export")
    files = [*(tmp_path / "run").iterdir(), *(tmp_path / "export").iterdir()]
    assert files and {p.name: _mode(p) for p in files} == {p.name: 0o644 for p in files}
