"""`graphrec datasets`: each public format parsed from small fixtures the repository ships (zipped here as the
publisher ships them), served from file:// URLs; checksums (pinned, mismatched, trusted on first use); the cache;
and the one-line error offline."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrec.cli import main
from graphrec.config import DataConfig
from graphrec.data import _public_formats as formats
from graphrec.data import public
from graphrec.data.public import Download, fetch
from graphrec.data.readers import read_interactions
from graphrec.errors import DataError, DatasetDownloadError, UnknownNameError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "public"


def _zip(folder: str, out: Path) -> Path:
    """The fixture folder as the publisher's archive: members under the folder's name."""
    path = out / f"{folder}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member in sorted((FIXTURES / folder).iterdir()):
            archive.write(member, f"{folder}/{member.name}")
    return path


def _md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def _serve(monkeypatch: pytest.MonkeyPatch, name: str, files: list[Path], checksums: list[str | None]) -> None:
    """Point dataset `name` at local files (file:// URLs), with these checksums."""
    downloads = tuple(Download(f.as_uri(), c) for f, c in zip(files, checksums, strict=True))
    spec = dataclasses.replace(public.DATASETS[name], downloads=downloads, prepared_sha256=())
    monkeypatch.setitem(public.DATASETS, name, spec)


def test_movielens_100k_becomes_ratings_and_movies_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip("ml-100k", tmp_path)
    _serve(monkeypatch, "movielens-100k", [archive], [_md5(archive)])
    fetched = fetch("movielens-100k", tmp_path / "out", cache=tmp_path / "cache")
    assert fetched.data == tmp_path / "out" / "ratings.csv" and fetched.files == ["ratings.csv", "movies.csv"]
    frame = read_interactions(fetched.data, DataConfig())
    assert len(frame) == 6 and sorted(frame["user_id"].astype(str).unique().tolist()) == ["186", "196", "22"]
    movies = pd.read_csv(tmp_path / "out" / "movies.csv")
    assert movies.loc[movies.movieId == 51, "genres"].item() == "Action|Drama|Romance|War|Western"
    assert movies.loc[movies.movieId == 1300, "title"].item() == "Jack a Chéri, Le (1994)"  # Latin-1 decoded
    assert (tmp_path / "cache" / "movielens-100k" / "ml-100k.zip").read_bytes() == archive.read_bytes()


def test_movielens_1m_parses_the_double_colon_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip("ml-1m", tmp_path)
    _serve(monkeypatch, "movielens-1m", [archive], [_md5(archive)])
    fetched = fetch("movielens-1m", tmp_path / "out", cache=tmp_path / "cache")
    frame = read_interactions(fetched.data, DataConfig())
    assert len(frame) == 6 and set(frame["item_id"].astype(str)) == {"661", "1193", "3408"}
    assert "timestamp" in frame.columns
    movies = pd.read_csv(tmp_path / "out" / "movies.csv")
    assert movies.loc[movies.movieId == 1193, "title"].item() == "One Flew Over the Cuckoo's Nest (1975)"


def test_movielens_latest_small_keeps_its_csvs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip("ml-latest-small", tmp_path)
    _serve(monkeypatch, "movielens-latest-small", [archive], [None])
    fetched = fetch("movielens-latest-small", tmp_path / "out", cache=tmp_path / "cache")
    assert (tmp_path / "out" / "ratings.csv").read_bytes() == (
        FIXTURES / "ml-latest-small" / "ratings.csv"
    ).read_bytes()
    assert len(read_interactions(fetched.data, DataConfig())) == 9


def test_the_published_latest_small_files_are_pinned_by_their_sha256() -> None:
    spec = public.DATASETS["movielens-latest-small"]
    assert dict(spec.prepared_sha256).keys() == {"ratings.csv", "movies.csv"}
    pinned = [d for d in public.DATASETS["gowalla"].downloads if d.checksum]
    assert len(pinned) == 2 and public.DATASETS["movielens-100k"].downloads[0].checksum


def test_a_lightgcn_split_is_copied_and_loads_as_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = [FIXTURES / "lightgcn" / "train.txt", FIXTURES / "lightgcn" / "test.txt"]
    sums = ["sha256:" + hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    _serve(monkeypatch, "gowalla", files, sums)
    fetched = fetch("gowalla", tmp_path / "out", cache=tmp_path / "cache")
    assert fetched.data == tmp_path / "out" and fetched.files == ["train.txt", "test.txt"]
    assert (tmp_path / "out" / "train.txt").read_text() == files[0].read_text()


def test_a_checksum_mismatch_names_the_file_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip("ml-100k", tmp_path)
    _serve(monkeypatch, "movielens-100k", [archive], ["md5:" + "0" * 32])
    with pytest.raises(DataError) as info:
        fetch("movielens-100k", tmp_path / "out", cache=tmp_path / "cache")
    cached = tmp_path / "cache" / "movielens-100k" / "ml-100k.zip"
    assert str(info.value) == (
        f"{cached}: expected md5 {'0' * 32}, got {_md5(archive)[4:]}; the file is damaged or not the published one: "
        "delete it and run the command again (or put the published file there by hand)"
    )
    assert not (tmp_path / "out" / "ratings.csv").exists()


def test_unpinned_files_are_trusted_on_first_use_then_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = [FIXTURES / "lightgcn" / "train.txt", FIXTURES / "lightgcn" / "test.txt"]
    _serve(monkeypatch, "yelp2018", files, [None, None])
    fetch("yelp2018", tmp_path / "out", cache=tmp_path / "cache")
    cached = tmp_path / "cache" / "yelp2018" / "train.txt"
    assert "train.txt" in (tmp_path / "cache" / "yelp2018" / "checksums.json").read_text()
    cached.write_text("0 1\n")  # changed after first use
    with pytest.raises(DataError, match=r"train\.txt: expected sha256"):
        fetch("yelp2018", tmp_path / "out2", cache=tmp_path / "cache")


def test_the_cache_is_used_without_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip("ml-1m", tmp_path)
    _serve(monkeypatch, "movielens-1m", [archive], [_md5(archive)])
    fetch("movielens-1m", tmp_path / "a", cache=tmp_path / "cache")
    archive.unlink()  # the source is gone: the cached copy serves
    assert fetch("movielens-1m", tmp_path / "b", cache=tmp_path / "cache").data.exists()


def test_offline_fails_with_one_line_saying_where_to_put_the_files(tmp_path: Path, monkeypatch, capsys) -> None:
    spec = public.DATASETS["gowalla"]
    offline = tuple(Download(f"http://127.0.0.1:9/{d.filename}", d.checksum) for d in spec.downloads)
    monkeypatch.setitem(public.DATASETS, "gowalla", dataclasses.replace(spec, downloads=offline))
    code = main(["datasets", "get", "gowalla", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith("graphrec: error: datasets get gowalla: could not download http://127.0.0.1:9/")
    assert f"put the file(s) in {tmp_path / 'c' / 'gowalla'}/ as they are, and run the command again" in err
    assert "train.txt" in err and "test.txt" in err
    assert not list((tmp_path / "c").rglob("*.txt"))  # nothing half-written left in the cache
    with pytest.raises(DatasetDownloadError):
        fetch("gowalla", tmp_path / "out", cache=tmp_path / "c")


def test_list_and_unknown_names_on_the_command_line(capsys) -> None:
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("movielens-100k", "movielens-1m", "movielens-latest-small", "gowalla", "yelp2018", "amazon-book"):
        assert name in out
    assert main(["datasets", "get", "movielens-10k", "--out", "x"]) == 2
    assert "did you mean 'movielens-100k'?" in capsys.readouterr().err
    with pytest.raises(UnknownNameError):
        fetch("nope", "x")


def test_a_fetched_dataset_trains_from_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    archive = _zip("ml-100k", tmp_path)
    _serve(monkeypatch, "movielens-100k", [archive], [_md5(archive)])
    out = tmp_path / "ml"
    cache = tmp_path / "cache"
    assert main(["-q", "datasets", "get", "movielens-100k", "--out", str(out), "--cache", str(cache)]) == 0
    assert f"train with --data {out / 'ratings.csv'}" in capsys.readouterr().out
    args = ["-q", "train", "--model", "popularity", "--data", str(out / "ratings.csv"), "--out", str(tmp_path / "r")]
    assert main(args) == 0


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 5), st.integers(0, 2**31)),
        min_size=1,
        max_size=30,
    ),
    sep=st.sampled_from(["::", "\t"]),
)
def test_rating_lines_round_trip_into_ratings_csv(rows: list[tuple[int, int, int, int]], sep: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lines = [sep.join(map(str, row)) for row in rows]
        formats._ratings_csv(lines, sep, Path(folder), "ratings.dat")
        frame = pd.read_csv(Path(folder) / "ratings.csv")
    assert list(frame.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert [tuple(r) for r in frame.itertuples(index=False)] == rows


@settings(deadline=None)
@given(junk=st.text(min_size=1, max_size=20).filter(lambda t: t.count("::") != 3 and "\n" not in t and "\r" not in t))
def test_a_malformed_rating_line_is_refused_with_its_number(junk: str) -> None:
    with tempfile.TemporaryDirectory() as folder, pytest.raises(DataError, match=r"^line 2 of ratings\.dat: expected"):
        formats._ratings_csv(["1::2::3::4", junk], "::", Path(folder), "ratings.dat")
