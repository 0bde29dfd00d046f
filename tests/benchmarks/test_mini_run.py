"""benchmarks/mini_run.py's publication: the stage times and issue #14's targets, each score with its interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import mini_run
from benchmarks.mini_run import REPO
from launch.compose import compose_recipe
from launch.driver import execute_plan
from launch.plan import build_plan
from tests.benchmarks.test_repro_balanced import _played_reports
from tests.helpers.recording_executor import RecordingExecutor


def _published(tmp_path, models: str) -> str:
    plan = build_plan(compose_recipe(["+experiment=smoke", f"pipeline.run_dir={tmp_path / 'mini'}",
                                      f"pipeline.eval.models=[{models}]"]))
    execute_plan(plan, RecordingExecutor())
    _played_reports(plan.run_dir)  # every model: NER 0.75 (one set half right, one all right)
    out = tmp_path / "docs"
    out.mkdir()
    return mini_run.publish(plan.run_dir, out, 1300.0).read_text()


def _target(text: str, metric: str) -> str:
    [line] = [line for line in text.splitlines() if line.startswith(f"- {metric}: final")]
    return line


def test_without_the_base_model_a_target_line_gives_the_final_score_with_its_interval(tmp_path):
    text = _published(tmp_path, "cm_all,sa,final")
    ner = _target(text, "ner")
    low, high = (float(x) for x in ner.removeprefix("- ner: final 75.0 [").removesuffix("] -> PASS").split(", "))
    assert low < 75.0 < high
    assert _target(text, "re") == "- re: final – -> FAIL"  # nothing scored: no score, not a zero that passes
    assert "- time: 1300 s (the command) vs at most 1200 s -> FAIL" in text


def test_with_the_base_model_a_target_line_gives_the_paired_difference_and_equal_scores_fail(tmp_path):
    ner = _target(_published(tmp_path, "base,sa,final"), "ner")
    assert ner.endswith(" vs base 75.00 (+0.0 [0.0, 0.0]) -> FAIL")  # the same records, the same hits


def test_the_publication_keeps_its_reports_and_pairs_them_with_another_publication(tmp_path):
    import json

    _published(tmp_path / "a", "cm_all,sa,final")
    there = tmp_path / "a" / "docs"
    data = json.loads((there / "progression.json").read_text())
    assert [Path(r["report"]).name for r in data["rows"]] == ["cm_all.json", "sa.json", "de_ee.json"]
    assert all((REPO / r["report"]).resolve().is_file() for r in data["rows"])  # the copies, not runs/
    # a second run whose final model found one entity fewer in the half-right set: -1 hit of 10 there, paired
    plan = build_plan(compose_recipe(["+experiment=smoke", f"pipeline.run_dir={tmp_path / 'b' / 'mini'}",
                                      "pipeline.eval.models=[cm_all,sa,final]"]))
    execute_plan(plan, RecordingExecutor())
    _played_reports(plan.run_dir)
    final = plan.run_dir / "eval" / "output" / "report.json"
    report = json.loads(final.read_text())
    report["datasets"][0]["scores"]["strict"]["records"]["tp"][0] = 0
    final.write_text(json.dumps(report))
    out = tmp_path / "b" / "docs"
    out.mkdir()
    text = mini_run.publish(plan.run_dir, out, 1300.0, there).read_text()
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert rows["| sa"].split(" | ")[2] == "+0.0 [0.0, 0.0]"  # same hits on the same records
    diff = float(rows["| de_ee"].split(" | ")[2].split(" [")[0].replace("−", "-"))
    assert diff == pytest.approx(100 * (2 * 9 / 40 - 2 * 10 / 40) / 2, abs=0.05)  # half set F1 0.5 -> 0.45, mean /2
    assert "--report published=" in text and text.count("de_ee.json") == 1


def test_a_publication_names_the_cpu_and_whether_it_trained_in_bf16(tmp_path):
    from benchmarks.publish import machine

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert (machine(cpuinfo)["cpu"], machine(cpuinfo)["cpu_bf16"]) == ("AMD EPYC 9R14", True)
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2\n")
    assert (machine(cpuinfo)["cpu"], machine(cpuinfo)["cpu_bf16"]) == ("AMD EPYC", False)
    assert machine(tmp_path / "absent")["cpu"] is None  # no /proc/cpuinfo (macOS): unknown, not a guess
