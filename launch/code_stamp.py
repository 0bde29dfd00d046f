"""Which of the project's source files a stage's result depends on, and their hash (part of its fingerprint).

A stage reruns when the code that builds its data or scores its reward changes, and only then: editing
``converters/roundtrip.py`` must not rerun a CM stage of 845,646 examples, editing ``converters/format/render.py``
must. So the stamp covers the modules a stage's entry modules import, found statically (``ast``), transitively,
inside the project: imports inside functions count too (lazy imports are code that runs), so the set errs on
the side of rerunning. Package ``__init__`` files of every module count (importing a module runs them).
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path


def module_file(name: str, root: Path) -> Path | None:
    """The file of module ``name`` under ``root`` (a module or a package's ``__init__``), or None."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(path: Path, name: str) -> frozenset[str]:
    """Absolute names of every module an import statement of ``path`` (module ``name``) may load."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return _imports_in(path.read_text(encoding="utf-8"), str(path), package)


@functools.lru_cache(maxsize=4096)
def _imports_in(source: str, filename: str, package: str) -> frozenset[str]:
    """The imports of ``source`` (a module of ``package``), cached on the text itself: every plan of a process
    stamps the same files again, and an edited file is parsed again because its text differs."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):  # `from X import name`: X.name (module_closure adds X above it)
            if node.level:
                parts = package.split(".") if package else []
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module  # never None without a leading dot
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(found)


def module_closure(entries: Iterable[str], root: Path) -> list[Path]:
    """The files under ``root`` that importing the ``entries`` modules may run, sorted."""
    seen: dict[str, Path] = {}
    todo = list(entries)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the module and every package above it
            prefix = ".".join(parts[:i])
            if prefix in seen:
                continue
            path = module_file(prefix, root)
            if path is None:
                continue
            seen[prefix] = path
            todo.extend(n for n in _imported(path, prefix) if n not in seen)
    return sorted(set(seen.values()))


def code_stamp(entries: Iterable[str], root: Path) -> str:
    """sha256 over the relative paths and contents of ``module_closure(entries, root)``."""
    digest = hashlib.sha256()
    for path in module_closure(entries, root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
