"""The README's promises: it opens with the two commands, and its Python example runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_exactly_two_commands() -> None:
    first = README.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_makefile_targets_install_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: install$", makefile, flags=re.M)
    assert re.search(r"^test: install lint$", makefile, flags=re.M)  # lint (ruff, mypy) before pytest
    assert re.search(r"^lint: install$", makefile, flags=re.M)


def test_python_example_runs() -> None:
    (example,) = _blocks("python")
    exec(compile(example, "README.md", "exec"), {"__name__": "readme_example"})


def test_demo_command_runs(tmp_path: Path, capsys) -> None:
    from graphrec.cli import main

    assert main(["-q", "demo", "--out", str(tmp_path / "demo"), "--epochs", "10", "--no-progress"]) == 0
    out = capsys.readouterr().out
    for model in ("popularity", "mf", "lightgcn"):
        assert model in out
    assert "top-10" in out


def test_gitignore_covers_what_the_readme_commands_write() -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return  # an unpacked archive, not a checkout: nothing to be untracked in
    commands = "\n".join(line.split("#")[0] for line in "".join(_blocks("bash")).splitlines())
    written = set(re.findall(r"--(?:out|input) ([\w./-]+)", commands))
    relative = sorted(p for p in written if not p.startswith(("/", "..")))
    assert relative  # the README does write somewhere
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *relative],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,  # exit 1 when some path is not ignored: the assertion below names them
    )
    unignored = [line.split("\t")[-1] for line in result.stdout.splitlines() if line.startswith("::")]
    assert unignored == []


def test_install_shows_progress_and_the_readme_names_the_cpu_wheel() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (install,) = [line for line in makefile.splitlines() if "pip install" in line and "-e " in line]
    assert "--quiet" not in install and "--progress-bar on" in install  # the long step is never silent
    assert "download.pytorch.org/whl/cpu" in README
