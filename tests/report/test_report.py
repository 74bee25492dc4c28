"""graphrec report: one self-contained HTML file whose numbers are graphrec evaluate's and compare's, the short
report every training run leaves, and the errors of the command."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from graphrec.cli import main
from graphrec.errors import DataError
from graphrec.report import collect as collect_module
from graphrec.report import write_report
from graphrec.report.collect import gather
from graphrec.runs import evaluate_run, load_run, train

from ..conftest import tiny_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Every tag with its attributes, the text of every table cell, and the ids of the sections."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self.sections: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "section":
            self.sections.append(str(dict(attrs).get("id")))
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    page.close()
    return page


def _images(page: _Page) -> list[bytes]:
    sources = [str(attrs.get("src")) for tag, attrs in page.tags if tag == "img"]
    assert all(s.startswith("data:image/png;base64,") for s in sources), sources
    return [base64.b64decode(s.split(",", 1)[1]) for s in sources]


@pytest.fixture(scope="module")
def runs(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("report")
    dirs = {name: out / name for name in ("mf", "popularity")}
    train(tiny_config(planted_dir, "mf", epochs=3, eval_every=1), dirs["mf"])
    train(tiny_config(planted_dir, "popularity", epochs=0), dirs["popularity"])
    return dirs


def test_report_is_self_contained_with_every_section(runs: dict[str, Path], planted_dir: Path, tmp_path: Path) -> None:
    data = gather([runs["mf"], runs["popularity"]], ks=[10, 20], catalogue=planted_dir / "items.csv")
    out = write_report(data, tmp_path / "sub" / "r.html")
    page = _parse(out)
    assert page.sections == [
        "metrics", "curves", "training", "beyond-accuracy", "popularity-bias", "example-users",
        "configuration",
    ]  # fmt: skip
    links = [v for _, attrs in page.tags for k, v in attrs.items() if k in ("src", "href") and v]
    assert all(v.startswith("data:") for v in links), links  # nothing fetched: no URL, no file beside it
    assert {tag for tag, _ in page.tags}.isdisjoint({"script", "link", "iframe"})
    images = _images(page)
    assert len(images) == 4 and all(png.startswith(PNG_MAGIC) and len(png) > 5000 for png in images)
    evaluated = {name: evaluate_run(runs[name], "test", [10, 20]) for name in runs}
    for name in runs:  # the table's means are evaluate's, each with an interval around it
        row = page.cells[page.cells.index("recall@20") + 1 + list(runs).index(name)]
        mean, low, high = (float(x) for x in row.replace("[", "").replace("]", "").replace(",", "").split())
        assert mean == pytest.approx(evaluated[name]["recall@20"], abs=5e-5) and low <= mean <= high
    assert "p (paired t, Holm)" in page.cells and str(runs["popularity"]) in page.cells
    titles = dict(line.split(",", 2)[:2] for line in (planted_dir / "items.csv").read_text().splitlines()[1:])
    shown = [c for c in page.cells if "(" in c and ")" in c]
    assert any(titles["0"] in c or any(t in c for t in list(titles.values())[:50]) for c in shown)
    assert "epochs = 3" in out.read_text()  # the configuration of the run, as saved


def test_one_run_gets_intervals_and_no_tests(runs: dict[str, Path], tmp_path: Path) -> None:
    page = _parse(write_report(gather([runs["mf"]], split="valid", ks=[5]), tmp_path / "one.html"))
    assert "recall@5" in page.cells and "p (paired t, Holm)" not in page.cells
    assert len(_images(page)) == 4


def test_collected_curves_and_shares_match_slow_references(runs: dict[str, Path]) -> None:
    data = gather([runs["mf"], runs["popularity"]], "test", [10, 20], num_examples=3)
    for section in data.runs:
        evaluated = evaluate_run(section.label, "test", [1, 7, 20, 100])
        for k in (1, 7, 20, 100):
            assert section.curves["recall"][k - 1] == evaluated[f"recall@{k}"]
            assert section.curves["ndcg"][k - 1] == evaluated[f"ndcg@{k}"]
        assert sum(section.recommended_share) == pytest.approx(1.0)
    run = load_run(runs["mf"])
    popularity = np.asarray(run.train.sum(axis=0), dtype=np.float64).ravel()
    ranked = sorted(range(len(popularity)), key=lambda i: (-popularity[i], i))  # most popular first, ties by index
    assert len(ranked) % 10 == 0  # the planted catalogue: the bins are exactly tenths
    expected = [0.0] * 10
    for position, item in enumerate(ranked):
        expected[position * 10 // len(ranked)] += popularity[item] / popularity.sum()
    np.testing.assert_allclose(data.training_share, expected, atol=1e-12)
    assert len(data.examples) == 3 and all(len(r.lists) == 3 for r in data.runs)
    for user in data.examples:  # each example's history is its training row, its lists skip it
        row = run.user_ids.index(user.user_id)
        seen = {run.item_ids.id_of(int(i)) for i in run.train[row].indices}
        assert set(user.history) <= {str(s) for s in seen} and user.num_history == len(seen)
        shown = {data.item_ids[i] for i in data.runs[0].lists[user.user_idx]}
        assert shown.isdisjoint({str(s) for s in seen}) and len(shown) == 10


def test_train_leaves_a_short_report(runs: dict[str, Path]) -> None:
    page = _parse(runs["mf"] / "report.html")
    assert page.sections == ["summary", "best-validation-metrics", "training", "configuration"]
    assert "epochs_run" in page.cells and len(_images(page)) == 1
    untrained = (runs["popularity"] / "report.html").read_text()
    assert "No training epochs" in untrained and "No validation split" not in untrained


def test_cli_report_and_its_errors(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.html"
    assert main(["-q", "report", str(runs["mf"]), "--out", str(out), "--k", "10", "--users", "2"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert main(["-q", "report", str(runs["mf"]), "--out", str(out), "--users", "-1"]) == 2
    assert "--users must be ≥ 0, got -1; e.g. --users 5" in capsys.readouterr().err
    bad = tmp_path / "items.csv"
    bad.write_text("sku,label\n1,a\n")
    assert main(["-q", "report", str(runs["mf"]), "--out", str(out), "--catalogue", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "catalogue 'items.csv' needs an item id column" in err and "got columns ['sku', 'label']" in err


def test_report_refuses_runs_of_different_data(runs: dict[str, Path], tmp_path: Path) -> None:
    from graphrec.data import generate_demo_dir

    generate_demo_dir(tmp_path / "other", seed=1)
    train(tiny_config(tmp_path / "other", "popularity", epochs=0), tmp_path / "other_run")
    with pytest.raises(DataError, match="same data"):
        write_report(gather([runs["mf"], tmp_path / "other_run"]), tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_titles_come_from_the_catalogue(runs: dict[str, Path], planted_dir: Path) -> None:
    titles = collect_module.item_titles(load_run(runs["mf"]), planted_dir / "items.csv")
    first = (planted_dir / "items.csv").read_text().splitlines()[1].split(",")
    assert titles[first[0]] == first[1]
    assert collect_module.item_titles(load_run(runs["mf"]), None) == {}  # no catalogue configured
    json.dumps(titles)
