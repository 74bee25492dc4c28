"""Well-known public datasets by name: `graphrec datasets list` and `graphrec datasets get NAME --out DIR`.

`get` downloads a dataset's files once into a cache directory (``$GRAPHREC_CACHE``, else ``~/.cache/graphrec``;
one folder per dataset), checks each against its checksum, and writes into `--out` the files graphrec reads:
the LightGCN split's ``train.txt`` / ``test.txt`` (pass the folder as ``--data``), or MovieLens as ``ratings.csv``
(+ ``movies.csv`` for titles; pass the file). Nothing in the cache is changed after download.

Checksums come from the publisher (GroupLens' ``.md5`` files), or were measured on copies of the files on the
machine graphrec was built on (said next to each); a file with neither is trusted on first use: its SHA-256 is
recorded in the cache's ``checksums.json`` with a warning, and every later use checks it. A mismatch is an error
naming the file, never a silent re-download. Offline, or with a host unreachable, the command fails with one line
saying which files to put where by hand; with them in place it needs no network.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from graphrec.data import _public_formats as formats
from graphrec.errors import DataError, DatasetDownloadError, UnknownNameError
from graphrec.io import atomic_write, atomic_write_text

logger = logging.getLogger(__name__)

CACHE_ENV = "GRAPHREC_CACHE"
TIMEOUT_S = 60.0
CHUNK = 1 << 20
GROUPLENS = "https://files.grouplens.org/datasets/movielens"
LIGHTGCN = "https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/master/data"  # the authors' split


@dataclass(frozen=True)
class Download:
    """One file to fetch: its URL and "md5:…" / "sha256:…" checksum (None: trusted on first use)."""

    url: str
    checksum: str | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PublicDataset:
    """A dataset graphrec can fetch: what it is, where from, and how its files become graphrec's input."""

    name: str
    summary: str  # users, items, interactions, and what the interactions are
    homepage: str
    downloads: tuple[Download, ...]
    prepare: Callable[[list[Path], Path], list[str]]  # (downloaded files, out dir) -> files written
    data_path: str  # what to pass as --data, relative to the out dir ("." = the dir itself)
    # SHA-256 of prepared files, measured on the build machine's copies, for sets whose download has no checksum
    prepared_sha256: tuple[tuple[str, str], ...] = ()
    splits: str = "graphrec's default split (temporal leave-last per user when timestamps are present)"


def _lightgcn(name: str, summary: str, train_sha: str | None = None, test_sha: str | None = None) -> PublicDataset:
    return PublicDataset(
        name=name,
        summary=summary,
        homepage="https://github.com/gusye1234/LightGCN-PyTorch",
        downloads=(
            Download(f"{LIGHTGCN}/{name}/train.txt", train_sha),
            Download(f"{LIGHTGCN}/{name}/test.txt", test_sha),
        ),
        prepare=formats.copy_files,
        data_path=".",
        splits="the published train / test split (LightGCN, He et al. 2020)",
    )


# Gowalla's two SHA-256 were measured on the copies of the LightGCN split the benchmarks in BENCHMARKS.md ran on.
DATASETS: dict[str, PublicDataset] = {
    d.name: d
    for d in (
        PublicDataset(
            "movielens-latest-small",
            "610 users, 9,742 movies, 100,836 ratings (0.5-5 stars) with timestamps; titles, genres, tags",
            "https://grouplens.org/datasets/movielens/latest/",
            (Download(f"{GROUPLENS}/ml-latest-small.zip"),),
            formats.movielens_latest,
            "ratings.csv",
            prepared_sha256=(
                ("ratings.csv", "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"),
                ("movies.csv", "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07"),
            ),
        ),
        PublicDataset(
            "movielens-100k",
            "943 users, 1,682 movies, 100,000 ratings (1-5 stars) with timestamps; titles, genres",
            "https://grouplens.org/datasets/movielens/100k/",
            (Download(f"{GROUPLENS}/ml-100k.zip", "md5:0e33842e24a9c977be4e0107933c0723"),),
            formats.movielens_100k,
            "ratings.csv",
        ),
        PublicDataset(
            "movielens-1m",
            "6,040 users, 3,706 movies, 1,000,209 ratings (1-5 stars) with timestamps; titles, genres",
            "https://grouplens.org/datasets/movielens/1m/",
            (Download(f"{GROUPLENS}/ml-1m.zip", "md5:c4d9eecfca2ab87c1945afe126590906"),),
            formats.movielens_1m,
            "ratings.csv",
        ),
        _lightgcn(
            "gowalla",
            "29,858 users, 40,981 locations, 1,027,370 check-ins (LightGCN's split)",
            "sha256:0f086326b28a56c2e6dcb81d86ee72d4ccb7eed3a8d26788392356d8f51111cc",
            "sha256:099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3",
        ),
        _lightgcn("yelp2018", "31,668 users, 38,048 businesses, 1,561,406 reviews (LightGCN's split)"),
        _lightgcn("amazon-book", "52,643 users, 91,599 books, 2,984,108 ratings (LightGCN's split)"),
    )
}


@dataclass(frozen=True)
class Fetched:
    """What `fetch` wrote: the out dir, the files in it, and the path to pass as --data."""

    name: str
    out: Path
    files: list[str]
    data: Path


def cache_root(cache: str | Path | None = None) -> Path:
    """`cache`, else $GRAPHREC_CACHE, else ~/.cache/graphrec (XDG_CACHE_HOME honoured)."""
    if cache is not None:
        return Path(cache)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "graphrec"


def lookup(name: str) -> PublicDataset:
    if name in DATASETS:
        return DATASETS[name]
    near = difflib.get_close_matches(name, list(DATASETS), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise UnknownNameError(
        f"datasets: expected one of {', '.join(DATASETS)}, got {name!r}{hint}; `graphrec datasets list` shows them"
    )


def fetch(name: str, out: str | Path, cache: str | Path | None = None) -> Fetched:
    """Download `name` into the cache (once), check it, and write graphrec's input files into `out`."""
    spec = lookup(name)
    folder = cache_root(cache) / spec.name
    missing = [d for d in spec.downloads if not (folder / d.filename).exists()]
    for download in missing:
        _download(download, folder, spec, missing)
    files = [folder / d.filename for d in spec.downloads]
    for download, path in zip(spec.downloads, files, strict=True):
        if download.checksum is not None:
            _check(path, download.checksum)
        elif not spec.prepared_sha256:  # else the extracted files are checked below
            _check(path, _trust_on_first_use(path, folder))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = spec.prepare(files, out)
    for filename, sha in spec.prepared_sha256:
        _check(out / filename, f"sha256:{sha}")
    logger.info("datasets: %s ready in %s (%s)", spec.name, out, ", ".join(written))
    return Fetched(spec.name, out, written, out if spec.data_path == "." else out / spec.data_path)


def _download(download: Download, folder: Path, spec: PublicDataset, missing: list[Download]) -> None:
    """Stream `download` into `folder` (atomically: an interrupted download leaves no file behind)."""

    def write(tmp: Path) -> None:
        with urllib.request.urlopen(download.url, timeout=TIMEOUT_S) as response, tmp.open("wb") as sink:
            while chunk := response.read(CHUNK):
                sink.write(chunk)

    logger.info("datasets: downloading %s", download.url)
    try:
        atomic_write(folder / download.filename, write)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        by_hand = ", ".join(d.url for d in missing)
        raise DatasetDownloadError(
            f"datasets get {spec.name}: could not download {download.url} ({_reason(exc)}); without a network, "
            f"download {by_hand} elsewhere, put the file(s) in {folder}/ as they are, and run the command again"
        ) from exc


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


def _check(path: Path, checksum: str) -> None:
    """`path` against its "algorithm:hex" checksum."""
    algorithm, _, want = checksum.partition(":")
    got = file_digest(path, algorithm)
    if got != want:
        raise DataError(
            f"{path}: expected {algorithm} {want}, got {got}; the file is damaged or not the published one: delete "
            "it and run the command again (or put the published file there by hand)"
        )


def _trust_on_first_use(path: Path, folder: Path) -> str:
    """The checksum the cache recorded for `path` on first use (recorded now, with a warning, if this is it)."""
    record_path = folder / "checksums.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    if path.name not in record:
        record[path.name] = f"sha256:{file_digest(path, 'sha256')}"
        atomic_write_text(record_path, json.dumps(record, indent=2, sort_keys=True) + "\n")
        logger.warning(
            "datasets: %s has no published checksum; recorded %s in %s and will check it on every later use",
            path.name,
            record[path.name],
            record_path,
        )
    return str(record[path.name])


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def listing() -> list[dict[str, str]]:
    """One row per dataset for `graphrec datasets list`."""
    return [
        {
            "name": d.name,
            "summary": d.summary,
            "split": d.splits,
            "data": d.data_path,
            "source": d.homepage,
            "checksums": _checksum_kind(d),
        }
        for d in DATASETS.values()
    ]


def _checksum_kind(spec: PublicDataset) -> str:
    if all(d.checksum for d in spec.downloads):
        return "pinned (" + ", ".join(sorted({d.checksum.split(":")[0] for d in spec.downloads if d.checksum})) + ")"
    if spec.prepared_sha256:
        return "pinned on the extracted files (sha256)"
    return "trusted on first use (no published checksum)"
