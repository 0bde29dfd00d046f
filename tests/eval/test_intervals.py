"""Intervals of a report's numbers from its per-record counts; the table cells and the compact JSON that carry them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval import bootstrap
from eval.intervals import counts, dataset_interval, difference, interval_of, mean_of, metric_replicates, records_id
from eval.report import compact_json, difference_cell, error_bars, score_cell


def records(rows: list[tuple[int, int, int]]) -> dict[str, list[int]]:
    return {"tp": [r[0] for r in rows], "n_pred": [r[1] for r in rows], "n_gold": [r[2] for r in rows]}


def dataset(key: str, rows: list[tuple[int, int, int]], task: str = "ner", rid: str | None = "ids-1") -> dict:
    part = {"score": 0.0, "records": records(rows)}
    scores = {"trigger": part, "argument": dict(part)} if task == "ee" else part
    return {"key": key, "task": task, "records_id": rid, "scores": {"strict": scores}}


A = [(1, 1, 1), (0, 1, 2), (2, 2, 3), (0, 0, 1), (1, 2, 1)] * 6
B = [(1, 1, 1), (1, 1, 2), (2, 2, 3), (1, 1, 1), (1, 2, 1)] * 6
C = [(0, 2, 2), (1, 1, 1), (0, 1, 1)] * 5


def test_a_task_average_resamples_every_dataset_of_the_task() -> None:
    datasets = [dataset("a", A), dataset("re1", C, task="re"), dataset("c", C)]
    reps = metric_replicates(datasets, "strict", "ner", None, n_resamples=300, seed=4)
    strata = [np.array(A, dtype=float), np.array(C, dtype=float)]
    np.testing.assert_array_equal(reps.values, bootstrap.replicates(strata, 300, 4))
    assert reps.estimate == bootstrap.estimate(strata)
    assert reps.records == (("a", "ids-1", 30), ("c", "ids-1", 15))
    assert interval_of(reps) == list(bootstrap.percentile_interval(reps.values))
    assert metric_replicates(datasets, "strict", "ee", "trigger") is None  # no EE dataset
    assert metric_replicates(datasets, "instructuie", "ner", None) is None  # not scored with it
    old = [{"key": "a", "task": "ner", "scores": {"strict": {"score": 0.5}}}]  # a report from before the counts
    assert metric_replicates(old, "strict", "ner", None) is None
    assert dataset_interval(old[0]["scores"]["strict"]) is None


def test_a_difference_is_paired_only_on_the_same_records() -> None:
    a = metric_replicates([dataset("x", A)], "strict", "ner", None)
    b = metric_replicates([dataset("x", B)], "strict", "ner", None)
    diff = difference(b, a)
    expected = bootstrap.paired_difference([np.array(B)], [np.array(A)])
    assert (diff["diff"], diff["low"], diff["high"]) == pytest.approx(expected, abs=1e-15)
    assert diff["significant"] is bootstrap.significant(*expected[1:]) is True  # B never worse, often better
    other_ids = metric_replicates([dataset("x", B, rid="ids-2")], "strict", "ner", None)
    assert difference(other_ids, a) is None
    assert difference(metric_replicates([dataset("x", B, rid=None)], "strict", "ner", None),
                      metric_replicates([dataset("x", A, rid=None)], "strict", "ner", None)) is None
    assert difference(metric_replicates([dataset("x", B[:10])], "strict", "ner", None), a) is None


def test_the_mean_of_two_parts_is_taken_resample_by_resample() -> None:
    trig = metric_replicates([dataset("e", A, task="ee")], "strict", "ee", "trigger")
    ee = [dataset("e", A, task="ee")]
    ee[0]["scores"]["strict"]["argument"]["records"] = records(B)
    arg = metric_replicates(ee, "strict", "ee", "argument")
    both = mean_of([trig, arg])
    np.testing.assert_allclose(both.values, (bootstrap.replicates([np.array(A)]) + bootstrap.replicates([np.array(B)]))
                               / 2)
    assert both.estimate == pytest.approx((bootstrap.estimate([np.array(A)]) + bootstrap.estimate([np.array(B)])) / 2)
    assert mean_of([trig, None]) is None
    assert mean_of([trig, metric_replicates([dataset("e", B[:7], task="ee")], "strict", "ee", "argument")]) is None


def test_records_id_and_counts() -> None:
    assert records_id(["a", "b"]) == records_id(["a", "b"]) != records_id(["b", "a"])
    assert counts({"records": records([(1, 2, 3), (0, 1, 0)])}).tolist() == [[1, 2, 3], [0, 1, 0]]
    assert counts({"records": records([])}).shape == (0, 3)


# ------------------------------------------------------------------------------------- what tables print


def test_score_and_difference_cells() -> None:
    assert score_cell(0.412, [0.38, 0.4451]) == "41.2 [38.0, 44.5]"
    assert score_cell(0.5) == "50.0" and score_cell(None) == "–"
    assert difference_cell({"diff": 0.021, "low": -0.004, "high": 0.046}) == "+2.1 [−0.4, 4.6]"
    assert difference_cell({"diff": 0.03, "low": 0.008, "high": 0.051}) == "+3.0 [0.8, 5.1]*"
    assert difference_cell({"diff": -0.03, "low": -0.051, "high": -0.008}) == "−3.0 [−5.1, −0.8]*"
    assert difference_cell({"diff": 0.0, "low": 0.0, "high": 0.0}) == "+0.0 [0.0, 0.0]"
    assert difference_cell(None) == "–"


def test_error_bars_are_the_distances_to_the_interval_ends() -> None:
    assert error_bars([40.0, 10.0], [[0.35, 0.5], None]) == [[pytest.approx(5.0), 0.0], [pytest.approx(10.0), 0.0]]


def test_compact_json_puts_number_lists_on_one_line_and_reads_back_the_same() -> None:
    data = {"records": records([(1, 2, 3), (0, 1, 0)]), "interval": [0.25, 0.5], "text": "a [1, 2] \u0000 b",
            "empty": [], "mixed": [1, "x"], "flags": [True, False], "nested": [[1, 2], [3]]}
    text = compact_json(data)
    assert json.loads(text) == data
    assert '"tp": [1, 0],' in text and '"interval": [0.25, 0.5]' in text and '"nested": [\n' in text
    assert '"flags": [\n' in text  # booleans are not numbers here
