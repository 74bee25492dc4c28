"""Import layering of src/graphrec, read from the source with `ast` (every import at any depth, inside functions too).

- nothing under graphrec.data imports graphrec.graph (data/ is below graph/: loading data must not need torch);
- only the entry points (graphrec.cli, graphrec.demo, graphrec.__main__), the drivers above runs.py
  (graphrec.tuning, which trains many configs) and the service (graphrec.service.*) import graphrec.runs:
  everything below runs.py takes what it needs as arguments.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "graphrec"

RUNS_IMPORTERS = (
    "graphrec.cli",
    "graphrec.demo",
    "graphrec.__main__",
    "graphrec.estimator",  # the Python entry point (graphrec.fit), as cli.py is the command-line one
    "graphrec.tuning",
    "graphrec.service",
)

# Known violations of issue 12 point 7 that other branches remove (embed.py and inductive.py: the lead; batch.py:
# another helper). Whoever lands one of those deletes its entry here; the test fails on an entry that no longer
# violates, so the list cannot go stale, and on any violation not listed.
EXPECTED_RUNS_IMPORTERS: set[str] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module `source` imports, at any depth: ``from a import b`` yields "a" and "a.b" (b may be a module),
    relative imports are resolved against `module`, and ``importlib.import_module("x")`` with a literal counts."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"__import__", "import_module"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _imports_of_every_module() -> dict[str, set[str]]:
    return {
        _module_name(path): imported_modules(path.read_text(), _module_name(path), path.name == "__init__.py")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_import_reader_sees_nested_relative_and_dynamic_imports() -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    from graphrec.runs import load_run\n"
        "    class C:\n"
        "        def g(self):\n"
        "            from ..graph import spectral\n"
        "            importlib.import_module('graphrec.embed')\n"
    )
    found = imported_modules(source, "graphrec.data.features")
    assert {
        "os",
        "graphrec.runs",
        "graphrec.runs.load_run",
        "graphrec.graph",
        "graphrec.graph.spectral",
        "graphrec.embed",
    } <= found
    assert "graphrec.graph" in imported_modules("from .. import graph\n", "graphrec.data", is_package=True)


def test_every_module_is_read() -> None:
    modules = _imports_of_every_module()
    assert {"graphrec", "graphrec.cli", "graphrec.data.features", "graphrec.index.run_index"} <= set(modules)
    assert "graphrec.linalg" in modules["graphrec.data.features"]


def test_data_does_not_import_graph() -> None:
    offenders = {
        module: sorted(name for name in imports if _within(name, "graphrec.graph"))
        for module, imports in _imports_of_every_module().items()
        if _within(module, "graphrec.data")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_only_entry_points_and_the_service_import_runs() -> None:
    importers = {
        module
        for module, imports in _imports_of_every_module().items()
        if any(_within(name, "graphrec.runs") for name in imports)
        and module != "graphrec.runs"
        and not any(_within(module, allowed) for allowed in RUNS_IMPORTERS)
    }
    assert importers - EXPECTED_RUNS_IMPORTERS == set(), "modules below runs.py import graphrec.runs"
    assert EXPECTED_RUNS_IMPORTERS - importers == set(), "no longer imports graphrec.runs: delete it from the list"
