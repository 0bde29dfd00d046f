"""Per-completion reward records of a GRPO stage and the per-prompt trend they give (launch.engines.grpo_records):
the paired interval against scipy's paired t test, the visits, resuming without double records."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from scipy.stats import ttest_rel

from launch.engines import grpo_records


def _lines(rows):
    return [{"step": step, "id": pid, "reward": reward} for step, pid, reward in rows]


def test_visits_are_per_prompt_and_step_in_step_order():
    records = _lines([(3, "a", 1.0), (1, "a", 0.0), (1, "a", 0.5), (2, "b", -1.0), (3, "a", 0.0), (4, "b", 1.0)])
    assert grpo_records.visits(records) == {"a": [0.25, 0.5], "b": [-1.0, 1.0]}


def test_prompt_trend_is_the_paired_difference_of_last_and_first_visit():
    first = [0.1, -0.5, 0.3, 0.0, 0.2]
    middle = [0.0, 0.0, 0.0, 0.0, 0.0]
    last = [0.4, -0.1, 0.35, 0.5, 0.2]
    records = _lines([(1, i, r) for i, r in enumerate(first)] + [(2, i, r) for i, r in enumerate(middle)]
                     + [(3, i, r) for i, r in enumerate(last)] + [(3, "once", 9.0)])  # seen once: left out
    trend = grpo_records.prompt_trend(records)
    assert trend["prompts"] == 5
    assert trend["gain"] == pytest.approx(sum(last) / 5 - sum(first) / 5)
    ci = ttest_rel(last, first).confidence_interval(0.95)  # scipy's own paired t interval
    assert trend["gain_ci95"] == pytest.approx([ci.low, ci.high])
    assert trend["visit_means"] == pytest.approx([sum(first) / 5, 0.0, sum(last) / 5])


def test_prompt_trend_needs_a_second_visit_and_spread():
    assert grpo_records.prompt_trend(_lines([(1, "a", 0.0), (2, "b", 1.0)])) is None  # one epoch
    same = grpo_records.prompt_trend(_lines([(1, "a", 0.0), (2, "a", 1.0), (1, "b", 0.0), (2, "b", 1.0)]))
    assert same["gain"] == 1.0 and same["gain_ci95"] is None  # equal differences: no spread to measure


def test_recorded_reward_appends_one_line_per_completion_at_the_step_it_trains(tmp_path):
    path = tmp_path / grpo_records.RECORDS_NAME

    def sfr(completions, answer, **_):
        return [float(len(c)) for c in completions]
    sfr.__name__ = "sfr"

    reward = grpo_records.RecordedReward(sfr, path)
    assert reward.__name__ == "sfr"  # TRL logs under it
    out = reward(completions=["ab", "abc"], answer=["x", "x"], prompts=["p", "p"],
                 trainer_state=SimpleNamespace(global_step=4), extra_info=[{"id": "r1"}, {"id": "r1"}])
    assert out == [2.0, 3.0]
    assert grpo_records.read(path) == _lines([(5, "r1", 2.0), (5, "r1", 3.0)])


def test_start_keeps_only_the_steps_a_resumed_run_will_not_redo(tmp_path):
    path = tmp_path / grpo_records.RECORDS_NAME
    path.write_text("".join(json.dumps(line) + "\n" for line in _lines([(1, "a", 0.0), (2, "a", 1.0), (3, "b", 1.0)]))
                    + '{"step": 4, "id"', encoding="utf-8")  # a line cut short by the crash
    assert len(grpo_records.read(path)) == 3
    grpo_records.start(path, resume_step=2)
    assert grpo_records.read(path) == _lines([(1, "a", 0.0), (2, "a", 1.0)])
    grpo_records.start(path, resume_step=None)  # a fresh start records from nothing
    assert grpo_records.read(path) == []
