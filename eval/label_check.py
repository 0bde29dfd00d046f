"""Does a benchmark ask for the labels a model was trained with? Warn where they differ only by case or spelling.

A model trained on ``organization`` and asked for ``organisation`` (or ``Disease`` vs ``disease``) loses points for
a naming accident, not for what it extracts. Stage builds record every dataset's label set in their
``manifest.json`` (``labels``, see ``converters.stages``); the eval compares each benchmark dataset's labels
with the union of the trained ones of the same task:

- ``train_manifests`` (eval config): manifest files, stage ``data`` folders or run folders (every
  ``<stage>/data/manifest.json`` inside); when it is not set, the run folder the model sits in
  (``<run>/<stage>/output``), if it has stage manifests, as the pipeline's eval stage does;
- a benchmark label absent from the trained ones is flagged when a trained label equals it up to case, or up to
  spelling: letters and digits alike at a ``difflib`` ratio of at least ``SPELLING_RATIO``
  (``organisation`` / ``organization``, ``programming language`` / ``program language``), or one a dotted tail
  of the other (``Treatment.Combination.Drug`` / ``Combination.Drug``);

A label with nothing alike among the trained ones is simply new (out-of-domain sets have many): not flagged.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

SPELLING_RATIO = 0.8
_NOT_ALNUM = re.compile(r"[\W_]+")


def label_names(labels: Any) -> list[str]:
    """The names a label set asks for: types (a list), or event types then roles ({type: [roles]})."""
    if isinstance(labels, Mapping):
        return list(dict.fromkeys([*labels, *(r for roles in labels.values() for r in roles)]))
    return list(labels)


def manifest_paths(sources: Iterable[str | Path]) -> list[Path]:
    """Manifest files named by ``sources`` (files, stage data folders, run folders), in order."""
    found: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_file():
            found.append(path)
        elif (path / "manifest.json").is_file():
            found.append(path / "manifest.json")
        elif path.is_dir():
            found.extend(sorted(path.glob("*/data/manifest.json")))
        else:
            raise FileNotFoundError(f"train_manifests: {path} is neither a manifest nor a folder holding one")
    return found


def run_manifests(model: str | Path) -> list[Path]:
    """The stage manifests of the run folder a model was trained in (``<run>/<stage>/output``), if any."""
    run_dir = Path(model).expanduser().resolve().parent.parent
    return sorted(run_dir.glob("*/data/manifest.json"))


def trained_labels(paths: Sequence[Path]) -> dict[str, dict[str, list[str]]]:
    """task -> trained label -> the datasets that carry it, from stage manifests."""
    trained: dict[str, dict[str, list[str]]] = {}
    for path in paths:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
        for task, datasets in manifest.get("labels", {}).items():
            for dataset, labels in datasets.items():
                for name in label_names(labels):
                    owners = trained.setdefault(task, {}).setdefault(name, [])
                    if dataset not in owners:
                        owners.append(dataset)
    return trained


def alike(a: str, b: str) -> str | None:
    """Why two different labels look like one (``case`` or ``spelling``), or None."""
    if a == b:
        return None
    if a.lower() == b.lower():
        return "case"
    x, y = _NOT_ALNUM.sub("", a.lower()), _NOT_ALNUM.sub("", b.lower())
    if x == y or difflib.SequenceMatcher(None, x, y).ratio() >= SPELLING_RATIO:
        return "spelling"
    short, long_ = sorted((a.lower(), b.lower()), key=len)
    return "spelling" if long_.endswith("." + short) else None


def label_warnings(task: str, labels: Any, trained: Mapping[str, Mapping[str, Sequence[str]]]) -> list[str]:
    """Warnings for one benchmark dataset's label set (``labels`` as its records carry them)."""
    warnings = []
    known = trained.get(task, {})
    if known:
        for name in label_names(labels):
            if name in known:
                continue
            for other, owners in known.items():
                why = alike(name, other)
                if why:
                    warnings.append(f"asks for {name!r}; the model was trained on {other!r} ({why}; "
                                    f"{', '.join(owners)})")
    return warnings
