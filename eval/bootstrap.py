"""Bootstrap intervals for micro-F1 scores: resample test records with their counts, recompute the score.

A micro-F1 is not a mean of per-record values, so the bootstrap resamples *records*, each with its counts
``(tp, n_pred, n_gold)``, and recomputes F1 from the summed counts of every resample (an accuracy is the same
thing with counts ``(correct, n, n)``). A score averaged over datasets (a task's unweighted mean) is resampled
stratified: records are drawn within each dataset, and the resample's per-dataset F1s are averaged. The interval
is the percentile interval of the resampled scores.

The resample indices of a stratum of ``n`` records are ``rng.integers(0, n, (n_resamples, n))``, drawn stratum
after stratum from ``numpy.random.default_rng(seed)``: exactly the resamples ``scipy.stats.bootstrap`` draws with
that Generator (``tests/eval/test_bootstrap.py`` checks equal intervals). They depend only on the seed and the
stratum sizes, so two models (or EE's trigger and argument scores) scored on the same records get the *same*
resamples, and the difference of their replicates is a paired bootstrap. ``eval/METRICS.md`` describes the method.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

N_RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
_BLOCK = 1 << 22  # indices drawn at a time (32 MiB of int64): same stream as one draw, bounded memory


def micro_f1(totals: ArrayLike) -> np.ndarray:
    """F1 = 2 tp / (n_pred + n_gold) of counts ``(..., 3)`` (equal to 2PR/(P+R); 0 where nothing is predicted
    or gold, as ``eval.counts.prf``)."""
    totals = np.asarray(totals, dtype=float)
    tp, denominator = totals[..., 0], totals[..., 1] + totals[..., 2]
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def _strata(strata: Sequence[ArrayLike]) -> list[np.ndarray]:
    arrays = [np.asarray(s, dtype=float).reshape(-1, 3) if np.size(s) == 0 else np.asarray(s, dtype=float)
              for s in strata]
    if not arrays or any(a.ndim != 2 or a.shape[1] != 3 for a in arrays):
        raise ValueError("strata: give a list of (n_records, 3) arrays of (tp, n_pred, n_gold), one per dataset")
    return arrays


def estimate(strata: Sequence[ArrayLike], weights: Sequence[float] | None = None) -> float:
    """The score itself: the mean over datasets of each dataset's micro-F1 (weighted by ``weights``: a rate pooled
    over datasets weighs each by its size)."""
    return float(np.average([micro_f1(s.sum(axis=0)) for s in _strata(strata)], weights=weights))


def _resampled_totals(counts: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, 3) summed counts of each resample of the records of ``counts``."""
    n = len(counts)
    if n == 0:
        return np.zeros((n_resamples, 3))
    block = max(1, _BLOCK // n)
    out = []
    for start in range(0, n_resamples, block):
        b = min(block, n_resamples - start)
        idx = rng.integers(0, n, (b, n))
        weights = np.bincount((idx + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        out.append(weights.astype(float) @ counts)
    return np.concatenate(out)


def replicates(strata: Sequence[ArrayLike], n_resamples: int = N_RESAMPLES, seed: int = SEED,
               weights: Sequence[float] | None = None) -> np.ndarray:
    """The score of every resample, ``(n_resamples,)``: records resampled within each dataset (stratum), the
    per-dataset F1s averaged (weighted as in :func:`estimate`). Same seed and same stratum sizes: same resamples
    (what pairs two models)."""
    rng = np.random.default_rng(seed)
    return np.average([micro_f1(_resampled_totals(s, n_resamples, rng)) for s in _strata(strata)], axis=0,
                      weights=weights)


def percentile_interval(values: ArrayLike, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates (linear interpolation, as scipy)."""
    alpha = (1 - level) / 2
    low, high = np.quantile(np.asarray(values, dtype=float), [alpha, 1 - alpha])
    return float(low), float(high)


def interval(strata: Sequence[ArrayLike], n_resamples: int = N_RESAMPLES, seed: int = SEED,
             level: float = LEVEL) -> tuple[float, float]:
    """The ``level`` bootstrap interval (low, high) of a score; ``[counts]`` for a single dataset."""
    return percentile_interval(replicates(strata, n_resamples, seed), level)


def paired_difference(strata_a: Sequence[ArrayLike], strata_b: Sequence[ArrayLike], n_resamples: int = N_RESAMPLES,
                      seed: int = SEED, level: float = LEVEL) -> tuple[float, float, float]:
    """Score of A minus score of B and its paired interval: (diff, low, high), both resampled on the same records.

    ``strata_a[i]`` and ``strata_b[i]`` must hold the counts of the same records, in the same order.
    """
    a, b = _strata(strata_a), _strata(strata_b)
    if [len(s) for s in a] != [len(s) for s in b]:
        raise ValueError(f"paired bootstrap needs the same records for both: {[len(s) for s in a]} records per "
                         f"dataset vs {[len(s) for s in b]}")
    diff = replicates(a, n_resamples, seed) - replicates(b, n_resamples, seed)
    return (estimate(a) - estimate(b), *percentile_interval(diff, level))


def significant(low: float, high: float) -> bool:
    """Whether an interval of a difference excludes 0."""
    return low > 0 or high < 0
