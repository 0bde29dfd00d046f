"""Import what one process of the GPU check imports, in this interpreter, as if only the GPU machine's packages
and the carried wheels were installed.

Why: the GPU machine cannot be reached from here, and its Python has a fixed package set. Every distribution of
this virtualenv that is neither on that machine nor carried is hidden: its modules cannot be found
(``importlib.util.find_spec`` returns None, as for an absent package) and its metadata cannot be read
(``importlib.metadata.version`` raises). Libraries that probe for optional packages (LLaMA-Factory, TRL,
transformers) then take the same branches as there, and a package the run needs but nobody carries makes the
import fail here instead of on the GPU.

    python scripts/gpu_probe.py < request.json      # {"allowed": [distribution names], "targets": [...]}

A target is ``module``, ``module:attribute`` (imports the module, reads the attribute: lazy attributes of
transformers and TRL import their code only then) or ``module:function()`` (calls it without arguments, for the
set-up a process does before its imports). Prints one JSON object: ``ok``, ``error`` (the first failure),
``imported`` (the distributions whose modules were imported) and ``refused`` (hidden modules that something asked
for: optional there, the run goes on without them).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import json
import re
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
OWN_PACKAGES = frozenset({"converters", "eval", "launch", "rewards", "scripts"})


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def hidden_modules(module_dists: dict[str, list[str]], allowed: Iterable[str]) -> set[str]:
    """Top-level module names none of whose distributions is allowed (the repository's own packages stay)."""
    keep = {normalize(d) for d in allowed}
    return {module for module, dists in module_dists.items()
            if module not in OWN_PACKAGES and not any(normalize(d) in keep for d in dists)}


class HidingPathFinder:
    """``sys.meta_path``'s PathFinder, except that hidden modules and distributions are not there."""

    def __init__(self, modules: set[str], dists: set[str]) -> None:
        self.modules, self.dists = modules, dists
        self.refused: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        top = fullname.partition(".")[0]
        if top in self.modules:
            self.refused.add(top)
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, path, target)

    def invalidate_caches(self) -> None:
        importlib.machinery.PathFinder.invalidate_caches()

    def find_distributions(self, context: Any = importlib.metadata.DistributionFinder.Context()) -> Iterable[Any]:
        for dist in importlib.machinery.PathFinder.find_distributions(context):
            if normalize(dist.metadata["Name"] or "") not in self.dists:
                yield dist


def install_finder(allowed: Iterable[str]) -> HidingPathFinder:
    """Replace the PathFinder of ``sys.meta_path`` by one that hides what is not ``allowed``."""
    module_dists = importlib.metadata.packages_distributions()
    modules = hidden_modules(module_dists, allowed)
    keep = {normalize(d) for d in allowed}
    dists = {normalize(d) for ds in module_dists.values() for d in ds} - keep
    finder = HidingPathFinder(modules, dists)
    sys.meta_path[:] = [finder if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    importlib.invalidate_caches()
    return finder


def load_target(target: str) -> None:
    """Import one target (``module``, ``module:attribute`` or ``module:function()``)."""
    module, _, attribute = target.partition(":")
    loaded = importlib.import_module(module)
    if attribute.endswith("()"):
        getattr(loaded, attribute[:-2])()
    elif attribute:
        getattr(loaded, attribute)


def imported_distributions() -> list[str]:
    """The distributions whose top-level modules are in ``sys.modules`` (the repository's own excepted)."""
    module_dists = importlib.metadata.packages_distributions()
    tops = {name.partition(".")[0] for name in list(sys.modules)} - OWN_PACKAGES
    return sorted({normalize(d) for top in tops for d in module_dists.get(top, ())})


def probe(allowed: list[str], targets: list[str]) -> dict[str, Any]:
    """Load every target under the hiding finder; the first failure stops and is reported."""
    finder = install_finder(allowed)
    error = None
    for target in targets:
        try:
            load_target(target)
        except Exception as err:  # noqa: BLE001 - any failure to import is the finding
            error = f"{target}: {type(err).__name__}: {err}\n{traceback.format_exc(limit=-3)}"
            break
    return {"ok": error is None, "error": error, "imported": imported_distributions(),
            "refused": sorted(finder.refused)}


def main() -> None:
    for path in (str(REPO_ROOT), str(REPO_ROOT / "scripts")):
        if path not in sys.path:
            sys.path.insert(0, path)
    request = json.load(sys.stdin)
    result = probe(request["allowed"], request["targets"])
    sys.stdout.flush()
    print("\n" + json.dumps(result))


if __name__ == "__main__":
    main()
