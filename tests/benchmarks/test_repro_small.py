"""benchmarks/repro_small.py publishes both studies: reports, the progression, every DE stage's curves once."""

from __future__ import annotations

import json
import os

import pytest
from rich.console import Console

from benchmarks import repro_small
from benchmarks.publish import prompt_trend_cell
from launch.study import execute_study, plan_study
from tests.helpers.recording_executor import RecordingExecutor
from tests.helpers.smoke_runs import REPO
from tests.launch.test_study import study

DE = ("de_ner", "de_re", "de_ee")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Both studies on the smoke recipe with the backends played, run as the script's commands name them."""
    repro = repro_small
    runs = tmp_path_factory.mktemp("runs")
    for name, command in repro.commands(runs).items():
        overrides = ["+experiment=smoke", *(c for c in command if c.startswith("pipeline."))]
        root, variants = plan_study(overrides, study(name))
        execute_study(root, variants, RecordingExecutor(), Console(stderr=True, quiet=True), study(name))
    out = tmp_path_factory.mktemp("docs")
    return repro, runs, out, repro.publish(runs, out, None).read_text()


def test_it_copies_both_reports_and_the_full_runs_progression(published):
    _, runs, out, _ = published
    for name in ("table5/study.md", "table5/table5.png", "table7/study.md", "table7/table7.png",
                 "progression.md", "progression.png", "wo_sa/progression.md", "wo_sa/progression.png"):
        assert (out / name).is_file(), name
    data = json.loads((out / "table7" / "study.json").read_text())
    assert data["variants"]["sfr"]["run_dir"] == os.path.relpath(runs / "repro_small+study-table7" / "sfr", REPO)


def test_every_de_stage_that_trained_is_listed_once_and_the_reused_ones_are_not(published):
    repro, runs, out, text = published
    rows = [line for line in text.splitlines() if line.startswith(("| table5 |", "| table7 |"))
            and "curves/" in line]
    # table7's SFR variant links the table5 full run's DE stages: they are listed under table5 only
    assert [tuple(r.split(" | ")[1:3]) for r in rows] == [
        *[("full", s) for s in DE], *[("wo_sa", s) for s in DE], *[("coarse_only", s) for s in DE],
        *[("fine_only", s) for s in DE]]
    assert (runs / "repro_small+study-table7" / "sfr" / "de_ee").resolve() == (
        runs / "repro_small+study-table5" / "full" / "de_ee").resolve()
    assert sorted(p.name for p in (out / "curves").glob("*.json")) == sorted(
        f"{v}-{s}.json" for v in ("full", "wo_sa", "coarse_only", "fine_only") for s in DE)


def test_the_targets_are_checked_on_the_full_runs_final_model(published):
    _, _, _, text = published
    # the played evaluations score NER 0.5 and nothing else; one logged step has no trend
    assert "- ner: final 50.00 vs at least 30 -> PASS" in text
    assert "- re: final – vs at least 20 -> FAIL" in text
    assert "- DE reward rises (interval of last - first above 0): 0 of 12 stages -> FAIL" in text
    assert "(sum of the stages that ran; republished)" in text


def test_records_needed_scales_the_interval_as_one_over_root_n(published):
    repro, _, _, text = published
    assert repro.records_needed(0.06, 100) == 400  # half the width takes four times the records
    assert repro.records_needed(0.03, 250) == 250 and repro.records_needed(0.031, 100) == 107
    assert "| NER | 0 | – | – |" in text  # the played evaluations score no record


def test_publish_only_reports_the_walls_the_run_recorded_and_counts_linked_stages_once(published, tmp_path):
    repro, runs, _, text = published
    ran = sum(r.get("seconds", 0) for study in ("table5", "table7")
              for run in (runs / f"repro_small+study-{study}").iterdir() if (run / "summary.json").is_file()
              for r in json.loads((run / "summary.json").read_text())["stages"] if r.get("status") == "ran")
    assert f"- time: {ran:.0f} s (sum of the stages that ran; republished)" in text
    (runs / repro.WALLS).write_text(json.dumps({"table5": 3601.2, "table7": 1240.4}))
    try:
        again = repro.publish(runs, tmp_path, json.loads((runs / repro.WALLS).read_text())).read_text()
    finally:
        (runs / repro.WALLS).unlink()
    assert "### table5, the command 3601 s" in again and "- time: 4842 s (the two commands)" in again


def test_a_de_row_shows_the_same_prompts_trend_where_they_were_revisited(published):
    repro, _, _, text = published
    rows = [line for line in text.splitlines() if line.startswith("| table5 |") and "curves/" in line]
    assert rows and all(r.split(" | ")[-2] == "–" for r in rows)  # the played stages visit each prompt once
    trend = {"prompts": 16, "gain": 0.39140625, "gain_ci95": [0.18661, 0.59619]}
    assert prompt_trend_cell(trend) == "+0.391 [+0.187, +0.596] (16 prompts)"
    assert prompt_trend_cell({**trend, "gain_ci95": None}) == "+0.391 (16 prompts)"
