"""Bootstrap intervals of micro-F1 against scipy's bootstrap on the same resamples, closed forms and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from eval import bootstrap
from eval.bootstrap import estimate, interval, micro_f1, paired_difference, replicates, significant
from eval.counts import prf


def random_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) plausible per-record counts: tp <= n_pred, tp <= n_gold."""
    n_pred, n_gold = rng.integers(0, 4, n), rng.integers(0, 4, n)
    tp = np.minimum(rng.integers(0, 4, n), np.minimum(n_pred, n_gold))
    return np.column_stack([tp, n_pred, n_gold])


def f1_of_indices(counts: np.ndarray):
    """scipy statistic: the micro-F1 of the records an index resample picks, written independently (P, R, 2PR/(P+R))."""
    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        t = counts[idx].sum(axis=-2).astype(float)
        p = np.where(t[..., 1] > 0, t[..., 0] / np.maximum(t[..., 1], 1), 0.0)
        r = np.where(t[..., 2] > 0, t[..., 0] / np.maximum(t[..., 2], 1), 0.0)
        return np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    return statistic


def scipy_interval(data, statistic, seed: int, paired: bool = False, n_resamples: int = 1000):
    res = stats.bootstrap(data, statistic, n_resamples=n_resamples, method="percentile", vectorized=True,
                          paired=paired, confidence_level=0.95, rng=np.random.default_rng(seed))
    return res.confidence_interval.low, res.confidence_interval.high


# --------------------------------------------------------------------- against scipy.stats.bootstrap


def test_one_dataset_equals_scipys_percentile_bootstrap_on_the_same_resamples() -> None:
    counts = random_counts(np.random.default_rng(1), 300)
    low, high = interval([counts], seed=7)
    assert (low, high) == pytest.approx(scipy_interval((np.arange(300),), f1_of_indices(counts), seed=7), abs=1e-12)
    assert low < estimate([counts]) < high and high - low > 0.02


def test_an_average_over_datasets_is_resampled_within_each_dataset_as_scipy_does_several_samples() -> None:
    rng = np.random.default_rng(2)
    strata = [random_counts(rng, n) for n in (40, 150, 7)]
    f1s = [f1_of_indices(c) for c in strata]

    def mean_f1(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([f(i) for f, i in zip(f1s, idx)], axis=0)

    expected = scipy_interval(tuple(np.arange(len(c)) for c in strata), mean_f1, seed=3)
    assert interval(strata, seed=3) == pytest.approx(expected, abs=1e-12)


def test_a_paired_difference_equals_scipys_paired_bootstrap() -> None:
    rng = np.random.default_rng(4)
    a_strata, b_strata = [random_counts(rng, 60), random_counts(rng, 90)], [random_counts(rng, 60),
                                                                            random_counts(rng, 90)]
    fa, fb = [f1_of_indices(c) for c in a_strata], [f1_of_indices(c) for c in b_strata]

    def mean_diff(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([f(i) - g(i) for f, g, i in zip(fa, fb, idx)], axis=0)

    diff, low, high = paired_difference(a_strata, b_strata, seed=11)
    assert (low, high) == pytest.approx(scipy_interval((np.arange(60), np.arange(90)), mean_diff, seed=11), abs=1e-12)
    assert diff == pytest.approx(estimate(a_strata) - estimate(b_strata))
    # one dataset: scipy's paired=True (one index draw for both samples)
    single = scipy_interval((np.arange(60), np.arange(60)), lambda i, j, axis=-1: fa[0](i) - fb[0](j), seed=5,
                            paired=True)
    assert paired_difference(a_strata[:1], b_strata[:1], seed=5)[1:] == pytest.approx(single, abs=1e-12)


def test_drawing_in_blocks_keeps_scipys_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = random_counts(np.random.default_rng(6), 50)
    monkeypatch.setattr(bootstrap, "_BLOCK", 50 * 7)  # 7 resamples per draw, 143 draws
    assert interval([counts], seed=8) == pytest.approx(scipy_interval((np.arange(50),), f1_of_indices(counts), 8),
                                                       abs=1e-12)


# ------------------------------------------------------------------------------------- closed forms


def test_micro_f1_is_prf_f1_and_zero_where_undefined() -> None:
    for tp, n_pred, n_gold in [(3, 5, 4), (0, 2, 3), (0, 0, 0), (0, 0, 4), (2, 2, 2)]:
        assert float(micro_f1([tp, n_pred, n_gold])) == pytest.approx(prf(tp, n_pred, n_gold)["f1"], abs=1e-15)


def test_identical_records_give_a_zero_width_interval_at_the_score() -> None:
    counts = np.tile([2, 3, 4], (25, 1))
    assert interval([counts]) == pytest.approx((4 / 7, 4 / 7), abs=1e-15)


def test_a_model_minus_itself_is_exactly_zero_and_not_significant() -> None:
    counts = random_counts(np.random.default_rng(9), 80)
    diff, low, high = paired_difference([counts], [counts.copy()])
    assert (diff, low, high) == (0.0, 0.0, 0.0) and not significant(low, high)


def test_k_extra_correct_records_give_a_binomial_bootstrap_distribution() -> None:
    """Accuracy-type counts (correct, 1, 1): B is A plus k records right that A got wrong, so B - A on a resample is
    (how many of the k records it drew) / n ~ Binomial(n, k/n) / n; its percentile interval is the binomial's."""
    n, k = 200, 12
    a = np.column_stack([np.r_[np.zeros(k), np.ones(n // 2), np.zeros(n - k - n // 2)], np.ones(n), np.ones(n)])
    b = a.copy()
    b[:k, 0] = 1
    diffs = replicates([b], n_resamples=20000, seed=1) - replicates([a], n_resamples=20000, seed=1)
    assert diffs.mean() == pytest.approx(k / n, abs=0.001)
    assert diffs.var() == pytest.approx((k / n) * (1 - k / n) / n, rel=0.05)
    diff, low, high = paired_difference([b], [a], n_resamples=20000, seed=1)
    assert diff == pytest.approx(k / n)
    assert low == pytest.approx(stats.binom.ppf(0.025, n, k / n) / n, abs=1 / n)
    assert high == pytest.approx(stats.binom.ppf(0.975, n, k / n) / n, abs=1 / n)
    assert significant(low, high)  # B is never worse on any record: every resample has B >= A, most strictly


def test_an_empty_dataset_scores_zero_and_bad_shapes_are_errors() -> None:
    assert interval([np.zeros((0, 3))]) == (0.0, 0.0)
    with pytest.raises(ValueError, match=r"\(n_records, 3\) arrays"):
        interval(np.array([[1, 1, 1], [0, 1, 1]]))  # one dataset must be given as [counts]
    with pytest.raises(ValueError, match="same records"):
        paired_difference([np.ones((3, 3))], [np.ones((4, 3))])


# ---------------------------------------------------------------------------------------- properties

def counts_lists(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[np.ndarray]:
    rows = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), min_size=min_size,
                    max_size=max_size)
    return rows.map(lambda rs: np.array([(min(t, p, g), p, g) for t, p, g in rs]))


counts_strategy = counts_lists()


@settings(max_examples=60, deadline=None)
@given(counts=counts_strategy, seed=st.integers(0, 2**32 - 1))
def test_interval_is_seeded_ordered_and_within_zero_one(counts: np.ndarray, seed: int) -> None:
    low, high = interval([counts], n_resamples=200, seed=seed)
    assert (low, high) == interval([counts], n_resamples=200, seed=seed)
    assert 0.0 <= low <= high <= 1.0


@settings(max_examples=60, deadline=None)
@given(counts=counts_lists(20, 100), seed=st.integers(0, 2**32 - 1))
def test_interval_contains_the_score(counts: np.ndarray, seed: int) -> None:
    low, high = interval([counts], n_resamples=400, seed=seed)
    assert low - 1e-12 <= estimate([counts]) <= high + 1e-12


@settings(max_examples=40, deadline=None)
@given(a=counts_strategy, seed=st.integers(0, 2**32 - 1), data=st.data())
def test_a_difference_is_antisymmetric(a: np.ndarray, seed: int, data: st.DataObject) -> None:
    b = a.copy()
    b[:, 0] = data.draw(st.lists(st.integers(0, 3), min_size=len(a), max_size=len(a)))
    b[:, 0] = np.minimum(b[:, 0], np.minimum(b[:, 1], b[:, 2]))
    d_ab, low_ab, high_ab = paired_difference([a], [b], n_resamples=200, seed=seed)
    d_ba, low_ba, high_ba = paired_difference([b], [a], n_resamples=200, seed=seed)
    assert (d_ab, low_ab, high_ab) == pytest.approx((-d_ba, -high_ba, -low_ba), abs=1e-12)
