"""The report as one self-contained HTML file: inline CSS, pictures as data: URIs, nothing fetched from anywhere."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from graphrec.evaluation.beyond import ACTIVITY_BUCKETS, ITEM_BUCKETS
from graphrec.evaluation.compare import format_mean_ci, test_cells
from graphrec.report import figures
from graphrec.report.collect import ExampleUser, ReportData, RunSection

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.hit { background: #d8f0d8; font-weight: 600; } .muted { color: #777; } .note { color: #555; font-size: 12px; }
img { max-width: 100%; } pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: 12px; }
"""
TABLE_METRICS = ("recall", "ndcg", "precision", "hit_rate", "mrr")


def render(data: ReportData) -> str:
    """The full report of :func:`graphrec.report.collect.gather`'s data."""
    names = ", ".join(html.escape(r.label) for r in data.runs)
    parts = [
        f"<h1>graphrec report: {names}</h1>",
        _paragraph(
            f"Split <b>{data.split}</b> of {html.escape(data.data)}: {data.num_users:,} evaluated users (every user "
            f"with a held-out item), {data.num_items:,} items, full ranking over all items with training items "
            f"masked. Generated {_now()}."
        ),
        _section("Metrics", _metric_table(data) + _tests_table(data)),
        _section(
            "Recall@K and NDCG@K, K = 1 … 100", _image(figures.metric_curves(data), "Recall@K and NDCG@K"), "curves"
        ),
        _section("Training", _training(data.runs)),
        _section("Beyond accuracy", _beyond_table(data) + _image(figures.bucket_bars(data), "recall by bucket")),
        _section("Popularity bias", _image(figures.popularity_bias(data), "popularity bias") + _bias_note(data)),
        _section("Example users", _examples(data)),
        _section("Configuration", "".join(_config(r) for r in data.runs)),
    ]
    return _page(f"graphrec report: {', '.join(r.label for r in data.runs)}", parts)


def render_run(section: RunSection) -> str:
    """The short report `graphrec train` leaves in a run directory: the summary, the training curves and the
    configuration (no held-out split is scored: that is `graphrec report RUN`)."""
    summary = section.summary
    rows = [(key, summary[key]) for key in summary if key not in ("valid", "run_dir")]
    valid = summary.get("valid") or {}
    parts = [
        f"<h1>graphrec run: {html.escape(section.label)} ({html.escape(section.model)})</h1>",
        _paragraph(
            f"Generated {_now()}. For held-out metrics, curves and example users: <code>graphrec report "
            f"{html.escape(section.label)} --out report.html</code>."
        ),
        _section("Summary", _table(["", "value"], [[k, _cell(v)] for k, v in rows])),
        _section(
            "Best validation metrics",
            _table(["metric", "value"], [[k, _cell(v)] for k, v in valid.items()])
            if valid
            else _paragraph("No validation split: nothing was validated."),
        ),
        _section("Training", _training([section])),
        _section("Configuration", _config(section)),
    ]
    return _page(f"graphrec run: {section.label}", parts)


def _page(title: str, parts: Iterable[str]) -> str:
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _section(title: str, content: str, anchor: str = "") -> str:
    """A titled section; its id is `anchor`, else the title lower-cased with '-' for spaces."""
    anchor = anchor or title.lower().replace(" ", "-")
    return f'<section id="{html.escape(anchor)}">\n<h2>{html.escape(title)}</h2>\n{content}\n</section>'


def _paragraph(text: str, cls: str = "") -> str:
    return f'<p class="{cls}">{text}</p>' if cls else f"<p>{text}</p>"


def _image(png: bytes | None, alt: str) -> str:
    if png is None:
        return _paragraph("No training epochs (a model without training).", "muted")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table of already-escaped cells; a cell starting with '\\x00' is numeric (right-aligned)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{body}</tbody>\n</table>"


def _td(cell: str) -> str:
    return f'<td class="num">{cell[1:]}</td>' if cell.startswith("\x00") else f"<td>{cell}</td>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"\x00{value:.4f}"
    if isinstance(value, int):
        return f"\x00{value:,}"
    return html.escape(str(value))


def _metric_table(data: ReportData) -> str:
    table = data.table
    level = round(100 * table["bootstrap"]["confidence"])
    header = ["metric", *(html.escape(r.label) for r in data.runs)]
    rows = []
    for k in data.ks:
        for metric in TABLE_METRICS:
            name = f"{metric}@{k}"
            cells = [table["runs"][r.label][name] for r in data.runs]
            rows.append([name, *("\x00" + format_mean_ci(c) for c in cells)])
    note = (
        f"Mean [{level}% percentile-bootstrap CI over users, {table['bootstrap']['resamples']} resamples, seed "
        f"{table['bootstrap']['seed']}]; the means equal <code>graphrec evaluate</code>'s."
    )
    return _paragraph(note, "note") + _table(header, rows)


def _tests_table(data: ReportData) -> str:
    tests: Mapping[str, Any] = data.table.get("tests") or {}
    if not tests:
        return ""
    rows = [
        [name, html.escape(label), *("\x00" + html.escape(c) for c in test_cells(by_metric[name]))]
        for name in (f"{metric}@{k}" for k in data.ks for metric in ("recall", "ndcg"))
        for label, by_metric in tests.items()
    ]
    header = ["metric", "run", "Δ mean [CI]", "Cohen's d", "p (paired t, Holm)", "p (Wilcoxon, Holm)"]
    title = f"Paired tests against the baseline {html.escape(data.table['baseline'])}"
    return f"<h3>{title}</h3>" + _table(header, rows)


def _training(runs: Sequence[RunSection]) -> str:
    lines = []
    for run in runs:
        s = run.summary
        if s:
            lines.append(
                f"{html.escape(run.label)}: {s.get('epochs_run', '?')} epochs, best epoch "
                f"{s.get('best_epoch', '?')}, stopped by {html.escape(str(s.get('stop_reason', '?')))}, "
                f"{s.get('train_seconds', 0):.1f} s training, peak memory {s.get('peak_rss_mb', 0):.0f} MB"
            )
    listing = "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>" if lines else ""
    return listing + _image(figures.training_curves(runs), "training curves")


def _beyond_table(data: ReportData) -> str:
    k = data.popularity_k
    names = [f"coverage@{k}", f"gini@{k}", f"novelty@{k}", f"avg_popularity@{k}", f"popularity_ratio@{k}"]
    names += [f"recall@{k}[{b}]" for b in (*ACTIVITY_BUCKETS, *ITEM_BUCKETS)]
    header = ["metric", *(html.escape(r.label) for r in data.runs)]
    rows = [[html.escape(n), *(_cell(r.beyond.get(n, "–")) for r in data.runs)] for n in names]
    note = (
        f"At K = {k}. Coverage: share of the catalogue recommended to anyone; Gini: concentration of the "
        "recommendation counts (0 even, → 1 one item everywhere); novelty: mean −log₂ p(item); popularity ratio: the "
        "lists' mean item popularity over the users' histories'. Buckets: quartiles of users' training activity; "
        "head = the most popular items that make up 20% of training interactions."
    )
    return _paragraph(note, "note") + _table(header, rows)


def _bias_note(data: ReportData) -> str:
    return _paragraph(
        f"Items sorted by training popularity and cut into {len(data.training_share)} equal groups. A line above the "
        "dashed one in the first deciles means the model recommends popular items more often than they occur.",
        "note",
    )


def _examples(data: ReportData) -> str:
    if not data.examples:
        return _paragraph("No evaluated user.", "muted")
    header = ["user", "training history (first items)", "held out", *(html.escape(r.label) for r in data.runs)]
    return _paragraph("Held-out items a list found are highlighted.", "note") + _table(
        header, (_example_row(data, user) for user in data.examples)
    )


def _example_row(data: ReportData, user: ExampleUser) -> list[str]:
    more = user.num_history - len(user.history)
    history = _items(data, user.history) + (f'<br><span class="muted">… {more} more</span>' if more > 0 else "")
    cells = [html.escape(user.user_id), history, _items(data, sorted(user.held_out))]
    for run in data.runs:
        cells.append(_items(data, [data.item_ids[i] for i in run.lists.get(user.user_idx, [])], user.held_out))
    return cells


def _items(data: ReportData, item_ids: Sequence[str], hits: set[str] | None = None) -> str:
    out = []
    for item_id in item_ids:
        title = data.titles.get(item_id)
        text = html.escape(f"{title} ({item_id})" if title else item_id)
        out.append(f'<span class="hit">{text}</span>' if hits and item_id in hits else text)
    return "<br>".join(out) if out else '<span class="muted">none</span>'


def _config(run: RunSection) -> str:
    text = html.escape(run.config_toml or "(no config.toml in the run directory)")
    return f"<details open><summary>{html.escape(run.label)}</summary><pre>{text}</pre></details>"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
