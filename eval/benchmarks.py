"""Benchmark definitions: which test sets a benchmark name stands for, read from the catalogue data file.

The catalogue (``recipes/benchmark/catalog.yaml``) lists every evaluation dataset (task, IE_INSTRUCTIONS folder
or bundled slice, its row in the paper's tables, out-of-domain flag) and the named benchmarks (``ner``, ``re``,
``ee``, ``all``, ``smoke``, ...). Any dataset key is also a benchmark of one dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from converters.readers import ReadLog

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOG = REPO_ROOT / "recipes" / "benchmark" / "catalog.yaml"


@dataclass(frozen=True)
class BenchmarkDataset:
    """One test set of a benchmark."""

    key: str
    task: str
    paper_key: str
    ood: bool = False
    folder: str | None = None
    bundled: str | None = None
    original: bool = False       # with ``bundled``: the source's full test split under data_dir, not the slice
    task_folder: str | None = None

    def source_spec(self, data_dir: str | Path | None) -> dict[str, Any]:
        """The ``read_source`` spec of the test split."""
        if self.bundled:
            from converters.bundled import bundled_spec

            if self.original and not data_dir:
                raise ValueError(f"dataset {self.key!r} is the full test split of the bundled source "
                                 f"{self.bundled!r}: set data_dir to the folder of the original downloads "
                                 "(recipes/data/originals.yaml's root)")
            return bundled_spec(self.bundled, "test", data_dir if self.original else None)
        if not data_dir:
            raise ValueError(f"dataset {self.key!r} is read from IE_INSTRUCTIONS: set data_dir to its root folder")
        spec = {"format": "ie_instructions", "path": str(data_dir), "task": self.task, "dataset": self.folder,
                "split": "test"}
        return {**spec, "task_folder": self.task_folder} if self.task_folder else spec

    def records(self, data_dir: str | Path | None, read_log: ReadLog | None = None) -> list[dict[str, Any]]:
        """The gold test records; what the reader's documented rules did goes to ``read_log`` (a ``ReadLog``)."""
        from converters.readers import read_source

        return list(read_source(self.source_spec(data_dir), read_log))


def load_catalog(path: str | Path = CATALOG) -> dict[str, Any]:
    """The catalogue as plain data, checked for unknown dataset references."""
    with open(path, encoding="utf-8") as f:
        catalog = yaml.safe_load(f)
    datasets, benchmarks = catalog["datasets"], catalog["benchmarks"]
    for name, members in benchmarks.items():
        for m in members:
            if m not in datasets and m not in benchmarks:
                raise ValueError(f"{path}: benchmark {name!r} lists unknown dataset or benchmark {m!r}")
    return catalog


def resolve(benchmark: str, catalog: dict[str, Any] | None = None) -> list[BenchmarkDataset]:
    """The datasets of a benchmark name (or of a single dataset key), in catalogue order, without repeats."""
    catalog = catalog or load_catalog()
    datasets, benchmarks = catalog["datasets"], catalog["benchmarks"]

    def expand(name: str, seen: tuple[str, ...]) -> list[str]:
        if name in datasets:
            return [name]
        if name not in benchmarks:
            raise ValueError(f"unknown benchmark or dataset {name!r}; benchmarks: {sorted(benchmarks)}")
        if name in seen:
            raise ValueError(f"benchmark {name!r} includes itself")
        return [k for m in benchmarks[name] for k in expand(m, (*seen, name))]

    keys = list(dict.fromkeys(expand(benchmark, ())))
    return [BenchmarkDataset(key=k, **datasets[k]) for k in keys]


def describe(benchmark: str, catalog: dict[str, Any] | None = None) -> str:
    """What a benchmark name stands for, in words, for report titles: ``smoke`` reads as the smoke-test model
    otherwise, though it is the bundled test slices every CPU experiment is scored on."""
    try:
        datasets = resolve(benchmark, catalog)
    except ValueError:
        return "not in the catalogue"
    kinds = {"the bundled test slices of data/" if d.bundled and not d.original
             else "the bundled sources' full test splits" if d.bundled else "IE_INSTRUCTIONS test sets"
             for d in datasets}
    where = kinds.pop() if len(kinds) == 1 else "test sets of several kinds"
    return f"{len(datasets)} dataset{'s' if len(datasets) != 1 else ''}, {where}"


def check_limits(benchmark: str, limits: dict[str, Any] | None,
                 datasets: list[BenchmarkDataset] | None = None) -> None:
    """A per-dataset limit must name a dataset of the benchmark: checked when the pipeline plans its eval stages,
    so a typo stops the run before any stage trains rather than after. ``datasets``: the benchmark already resolved."""
    keys = [ds.key for ds in (datasets if datasets is not None else resolve(benchmark))]
    unknown = sorted(set(limits or {}) - set(keys))
    if unknown:
        raise ValueError(f"limits: {unknown[0]!r} is not a dataset of benchmark {benchmark!r} "
                         f"(its datasets: {', '.join(keys)})")
