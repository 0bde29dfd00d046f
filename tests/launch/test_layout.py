"""The shape of the code that issue #26 set: small modules, a short launch/ top level, wings that never import the
planner, and no import cycle between modules (imports inside functions count)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.smoke_runs import REPO

PACKAGES = ("converters", "rewards", "eval", "launch")
SIZED = (*PACKAGES, "tests", "benchmarks", "scripts")  # the 500-line rule covers the tests and tools too
WINGS = ("launch.engines", "launch.executors", "launch.models")
LEAVES = {"launch.stage", "launch.run_dir"}  # the top-level modules a wing may import: they import no launch module


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports (``from X import name`` counts as X.name when that is a module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                         for alias in node.names)
    return {name for name in names if name in modules}


def test_no_module_is_over_500_lines():
    files = [path for folder in SIZED for path in sorted((REPO / folder).rglob("*.py"))]
    assert len(files) > 100  # every folder is walked
    long = {str(path.relative_to(REPO)): n for path in files if (n := len(path.read_text().splitlines())) > 500}
    assert long == {}


def test_launch_keeps_under_12_modules_at_its_top_level():
    assert len(list((REPO / "launch").glob("*.py"))) < 12


def test_wings_import_only_the_leaf_modules_of_the_top_level():
    modules = _modules()
    for name, path in modules.items():
        if name.startswith(WINGS):
            up = {m for m in _imports(path, modules) if m.count(".") == 1 and not m.startswith(WINGS)
                  and m.startswith("launch.")} - LEAVES
            assert up == set(), name
    for leaf in LEAVES:  # a leaf imports no top-level launch module (wings only lazily, for a default)
        assert {m for m in _imports(modules[leaf], modules) if m.startswith("launch.") and m.count(".") == 1} == set()


def test_no_import_cycle_between_modules():
    modules = _modules()
    graph = {name: {m for m in _imports(path, modules) if m != name} for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name):], name]))
        if name in done:
            return
        for nxt in sorted(graph[name]):
            visit(nxt, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
