"""`graphrec report`: one self-contained HTML file per comparison of runs (tables with confidence intervals,
curves, buckets, popularity bias, example users, configuration), and the short report every training run leaves.
"""

from __future__ import annotations

from pathlib import Path

from graphrec.config import RunConfig
from graphrec.io import atomic_write_text
from graphrec.report.collect import ReportData, RunSection, gather, read_history
from graphrec.report.page import render, render_run

RUN_REPORT = "report.html"


def write_report(data: ReportData, out: str | Path) -> Path:
    """Write the report of `data` (:func:`gather`: scoring the runs) to `out`, whole or not at all; its path."""
    out = Path(out)
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render(data))
    return out


def write_run_report(run_dir: Path, config: RunConfig, summary: dict) -> Path:
    """The short report of one finished training run, as `run_dir`/report.html."""
    section = RunSection(
        label=str(run_dir),
        model=config.model.name,
        config_toml=(run_dir / "config.toml").read_text() if (run_dir / "config.toml").is_file() else "",
        summary=summary,
        history=read_history(run_dir),
        metric=str(getattr(config.train, "metric", "")),
    )
    path = run_dir / RUN_REPORT
    atomic_write_text(path, render_run(section))
    return path


__all__ = ["RUN_REPORT", "ReportData", "gather", "write_report", "write_run_report"]
