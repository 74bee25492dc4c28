"""How each public dataset's downloaded files become graphrec's input (graphrec.data.public).

Each function takes the downloaded files and the out dir and returns the names it wrote there. MovieLens archives
become ``ratings.csv`` (``userId,movieId,rating,timestamp``, which `--data` detects) and ``movies.csv``
(``movieId,title,genres``, for titles); every rating is kept (graphrec binarises and splits at load time).
"""

from __future__ import annotations

import csv
import functools
import io
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from graphrec.errors import DataError
from graphrec.io import atomic_write, atomic_write_bytes

RATINGS_HEADER = "userId,movieId,rating,timestamp\n"
# u.item's 19 genre flags, in the order of ml-100k's u.genre
GENRES_100K = (
    "unknown|Action|Adventure|Animation|Children's|Comedy|Crime|Documentary|Drama|Fantasy|Film-Noir|Horror|"
    "Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western"
).split("|")


def _copy_into(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)


def copy_files(files: list[Path], out: Path) -> list[str]:
    """The files as they are (the LightGCN split's train.txt / test.txt)."""
    for path in files:
        atomic_write(out / path.name, functools.partial(_copy_into, path))
    return [path.name for path in files]


def _member(archive: zipfile.ZipFile, basename: str, source: Path) -> bytes:
    """The archive member named `basename` in any folder."""
    for info in archive.infolist():
        if info.filename.rsplit("/", 1)[-1] == basename:
            return archive.read(info)
    raise DataError(
        f"{source}: expected a member {basename!r} in the archive, got {len(archive.namelist())} others; the file is "
        "not the published archive: delete it and run the command again"
    )


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: expected a zip archive, got {exc}; delete it and run the command again") from exc


def movielens_latest(files: list[Path], out: Path) -> list[str]:
    """ml-latest-small.zip: its CSVs as they are."""
    names = ["ratings.csv", "movies.csv", "tags.csv", "links.csv"]
    with _open_zip(files[0]) as archive:
        for name in names:
            data = _member(archive, name, files[0])
            atomic_write_bytes(out / name, data)
    return names


def _ratings_csv(lines: list[str], sep: str, out: Path, source: str) -> None:
    """`user sep item sep rating sep timestamp` lines into ratings.csv."""
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.split(sep)
        if len(fields) != 4 or not all(f.strip().lstrip("-").replace(".", "", 1).isdigit() for f in fields):
            raise DataError(
                f"line {number} of {source}: expected 'user{sep}item{sep}rating{sep}timestamp' (4 numbers), got "
                f"{line[:80]!r}; the file is not the published one: delete the archive and run the command again"
            )
        rows.append(",".join(f.strip() for f in fields))
    text = RATINGS_HEADER + "\n".join(rows) + "\n"
    atomic_write(out / "ratings.csv", lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _movies_csv(movies: list[tuple[str, str, str]], out: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["movieId", "title", "genres"])
    writer.writerows(movies)
    text = buffer.getvalue()
    atomic_write(out / "movies.csv", lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _movielens_archive(
    path: Path, out: Path, members: tuple[str, str], sep: str, movie: Callable[[str], tuple[str, str, str]]
) -> list[str]:
    """A GroupLens archive's ratings member (ASCII, `sep`-separated) and movies member (Latin-1, one movie a line,
    parsed by `movie` into (id, title, genres)) as ratings.csv and movies.csv."""
    with _open_zip(path) as archive:
        ratings = _member(archive, members[0], path).decode("ascii").splitlines()
        movies = _member(archive, members[1], path).decode("latin-1").splitlines()
    _ratings_csv([line for line in ratings if line.strip()], sep, out, members[0])
    _movies_csv([movie(line) for line in movies if line.strip()], out)
    return ["ratings.csv", "movies.csv"]


def _movie_100k(line: str) -> tuple[str, str, str]:
    """u.item: id|title|date|video date|url|19 genre flags."""
    fields = line.split("|")
    flags = fields[-len(GENRES_100K) :]
    genres = "|".join(g for g, flag in zip(GENRES_100K, flags, strict=True) if flag == "1")
    return fields[0], fields[1], genres or "(no genres listed)"


def _movie_1m(line: str) -> tuple[str, str, str]:
    """movies.dat: id::title::genres."""
    movie_id, title, genres = line.split("::", 2)
    return movie_id, title, genres


def movielens_100k(files: list[Path], out: Path) -> list[str]:
    """ml-100k.zip: u.data (tab-separated ratings) and u.item (pipe-separated, Latin-1; 19 genre flags)."""
    return _movielens_archive(files[0], out, ("u.data", "u.item"), "\t", _movie_100k)


def movielens_1m(files: list[Path], out: Path) -> list[str]:
    """ml-1m.zip: ratings.dat and movies.dat, '::'-separated (movies in Latin-1)."""
    return _movielens_archive(files[0], out, ("ratings.dat", "movies.dat"), "::", _movie_1m)
