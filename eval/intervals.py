"""Bootstrap intervals of the numbers a report prints, read from the per-record counts it stores.

An eval report (``eval.run_benchmark``) keeps, for each dataset and scorer, the counts of every test record
(``records`` in each score part, see ``eval.metrics.score``) and an id of the records scored (``records_id``).
From them: a dataset score's interval, a task average's interval (stratified by dataset), and the paired interval
of the difference between two models evaluated on the same records (progression stages, study variants). A pair
whose records differ (another ``limit``, another benchmark) gets no interval rather than a wrong one. The
statistics are in ``eval.bootstrap``; ``eval/METRICS.md`` says what the intervals mean.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from eval import bootstrap
from eval.metrics import RECORD_COUNT_KEYS, score_part


@dataclass(frozen=True)
class Replicates:
    """A score, its bootstrap replicates, and the records they resample: (dataset, records id, n) per stratum."""

    estimate: float
    values: np.ndarray
    records: tuple[tuple[str, str | None, int], ...]


def records_id(ids: Sequence[Any]) -> str:
    """A short hash of the ids of the records scored, in order: equal ids, same records (what pairing needs)."""
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()[:16]


def counts(part: Mapping[str, Any]) -> np.ndarray | None:
    """A score part's per-record counts as an ``(n, 3)`` array, or None where the report has none (older ones)."""
    records = part.get("records")
    if records is None:
        return None
    return np.column_stack([np.asarray(records[k], dtype=float) for k in RECORD_COUNT_KEYS])


def dataset_interval(part: Mapping[str, Any], n_resamples: int = bootstrap.N_RESAMPLES, seed: int = bootstrap.SEED,
                     level: float = bootstrap.LEVEL) -> list[float] | None:
    """``[low, high]`` of one dataset's score, or None without per-record counts."""
    c = counts(part)
    return None if c is None else list(bootstrap.interval([c], n_resamples, seed, level))


def metric_replicates(datasets: Sequence[Mapping[str, Any]], scorer: str, task: str, part: str | None,
                      n_resamples: int = bootstrap.N_RESAMPLES, seed: int = bootstrap.SEED) -> Replicates | None:
    """The replicates of ``task``'s unweighted mean over ``datasets`` (a report's ``datasets``) under ``scorer``
    (``part``: EE ``trigger`` / ``argument``); None when the task is absent or a dataset lacks its counts."""
    rows = [d for d in datasets if d["task"] == task]
    results = [d["scores"].get(scorer) for d in rows]
    strata = [None if r is None else counts(score_part(r, part)) for r in results]
    if not rows or any(s is None for s in strata):
        return None
    return Replicates(bootstrap.estimate(strata), bootstrap.replicates(strata, n_resamples, seed),
                      tuple((d["key"], d.get("records_id"), len(s)) for d, s in zip(rows, strata)))


def rate_replicates(datasets: Sequence[Mapping[str, Any]], key: str, n_resamples: int = bootstrap.N_RESAMPLES,
                    seed: int = bootstrap.SEED) -> Replicates | None:
    """The replicates of a validity rate (``parsed_rate``, ``valid_rate``) pooled over ``datasets`` (a report's
    ``datasets``, each weighted by its size, as the rate itself), records resampled within each dataset.

    A record counts ``(1, 1, 1)`` when it passes and ``(0, 1, 1)`` when not, so its stratum's micro-F1 is the rate.
    Reports keep which records passed (``validity.records``, 0/1 in record order) and which records were scored
    (``records_id``), so two models' rates on the same records pair like their F1s (:func:`difference`). Older
    reports keep only a rate and a size per dataset: that decides the interval, not the pairing, so their rates
    get an interval each and no paired difference (``records`` then holds no ids)."""
    rows = [d for d in datasets if d["validity"]["n"]]
    if not rows:
        return None
    strata, ids = [], []
    for d in rows:
        v = d["validity"]
        flags = (v.get("records") or {}).get(key.removesuffix("_rate"))
        if flags is not None and len(flags) != v["n"]:
            raise ValueError(f"dataset {d['key']!r}: validity.records.{key.removesuffix('_rate')} has {len(flags)} "
                             f"flags for n = {v['n']} records")
        # pairable only where the flags say which records passed
        ids.append(d.get("records_id") if flags is not None else None)
        if flags is None:  # an older report: as many passing records as the rate says, in no known order
            passed = round(v[key] * v["n"])
            flags = [1] * passed + [0] * (v["n"] - passed)
        strata.append(np.column_stack([np.asarray(flags, dtype=float), np.ones(len(flags)), np.ones(len(flags))]))
    sizes = [len(s) for s in strata]
    return Replicates(bootstrap.estimate(strata, sizes), bootstrap.replicates(strata, n_resamples, seed, sizes),
                      tuple((d["key"], rid, n) for d, rid, n in zip(rows, ids, sizes)))


def mean_of(parts: Sequence[Replicates | None]) -> Replicates | None:
    """The mean of several scores of the same records (EE: trigger and argument F1), resample by resample."""
    if not parts or any(p is None for p in parts) or len({p.records for p in parts}) != 1:
        return None
    return Replicates(float(np.mean([p.estimate for p in parts])), np.mean([p.values for p in parts], axis=0),
                      parts[0].records)


def interval_of(r: Replicates | None, level: float = bootstrap.LEVEL) -> list[float] | None:
    """``[low, high]`` of a score's replicates."""
    return None if r is None else list(bootstrap.percentile_interval(r.values, level))


def difference(a: Replicates | None, b: Replicates | None, level: float = bootstrap.LEVEL) -> dict[str, Any] | None:
    """A minus B with its paired interval and whether it excludes 0; None unless both scored the same records."""
    if a is None or b is None or a.records != b.records or any(rid is None for _, rid, _ in a.records):
        return None
    low, high = bootstrap.percentile_interval(a.values - b.values, level)
    return {"diff": a.estimate - b.estimate, "low": low, "high": high,
            "significant": bootstrap.significant(low, high)}


def settings() -> dict[str, Any]:
    """How the intervals of a report were made (stored beside them)."""
    return {"method": "percentile bootstrap over test records (stratified by dataset for averages; paired for "
                      "differences)",
            "n_resamples": bootstrap.N_RESAMPLES, "seed": bootstrap.SEED, "level": bootstrap.LEVEL}
