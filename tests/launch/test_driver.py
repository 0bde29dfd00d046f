"""The driver's bookkeeping with a recording executor standing in for the backends (fast; no training).

The executor here writes what a backend leaves (a model folder with a trainer log, or an eval report) so the
driver's own logic is what is tested: skip, invalidate, resume markers, failures and DONE discipline. The real
backends run in tests/launch/test_smoke.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launch.compose import compose_recipe
from launch.driver import SUMMARY, execute_plan
from launch.plan import build_plan
from launch.stage import StageFailed
from tests.helpers.recording_executor import RecordingExecutor

SMOKE = ["+experiment=smoke", "pipeline.eval.models=[final]"]  # one eval stage, "eval" (more: the last test)


def run(tmp_path: Path, executor: RecordingExecutor, *overrides: str):
    plan = build_plan(compose_recipe([*SMOKE, f"pipeline.run_dir={tmp_path}", *overrides]))
    return plan, execute_plan(plan, executor)


def test_a_full_run_marks_every_stage_done_and_chains_models(tmp_path):
    executor = RecordingExecutor()
    plan, rows = run(tmp_path, executor)
    names = [s.name for s in plan.stages]
    assert executor.ran == names
    for stage in plan.stages:
        done = json.loads((stage.stage_dir / "DONE").read_text())
        assert done["fingerprint"] == stage.fingerprint
        assert done["results"]["input_model"] == stage.input_model
    assert rows[0]["final_loss"] == 0.5 and rows[4]["mean_reward"] == 0.5
    manifest = json.loads((tmp_path / "cm_ner_re" / "data" / "manifest.json").read_text())
    assert manifest["rows"] == 40 and rows[1]["samples"] == 40
    summary = json.loads((tmp_path / SUMMARY).read_text())
    assert [r["stage"] for r in summary["stages"]] == names


def test_a_rerun_with_unchanged_inputs_runs_nothing(tmp_path):
    run(tmp_path, RecordingExecutor())
    again = RecordingExecutor()
    _, rows = run(tmp_path, again)
    assert again.ran == []
    assert {r["status"] for r in rows} == {"cached"}


def test_a_changed_stage_reruns_itself_and_everything_after(tmp_path):
    run(tmp_path, RecordingExecutor())
    again = RecordingExecutor()
    run(tmp_path, again, "+stages.cm_ner_re.args.learning_rate=5e-4")
    assert again.ran == ["cm_ner_re", "cm_all", "sa", "de_ner", "de_re", "de_ee", "eval"]


def test_a_failing_backend_leaves_no_done_and_keeps_finished_stages(tmp_path):
    executor = RecordingExecutor(fail={"cm_all"})
    with pytest.raises(StageFailed) as err:
        run(tmp_path, executor)
    assert err.value.stage == "cm_all"
    assert err.value.path == str(tmp_path / "cm_all" / "stage.log")
    assert "exited with code 2" in str(err.value) and "rerun the same command" in str(err.value)
    assert (tmp_path / "cm_ner" / "DONE").is_file() and (tmp_path / "cm_ner_re" / "DONE").is_file()
    assert not (tmp_path / "cm_all" / "DONE").exists()
    assert not (tmp_path / "sa").exists()
    rerun = RecordingExecutor()
    run(tmp_path, rerun)
    assert rerun.ran[0] == "cm_all" and "cm_ner" not in rerun.ran


def test_exit_zero_without_a_model_is_a_failure(tmp_path):
    with pytest.raises(StageFailed, match=r"stage 'cm_ner' failed .*exited 0 but left no model"):
        run(tmp_path, RecordingExecutor(silent={"cm_ner"}))
    assert not (tmp_path / "cm_ner" / "DONE").exists()


def test_a_torn_or_foreign_done_marker_does_not_count(tmp_path):
    run(tmp_path, RecordingExecutor())
    (tmp_path / "sa" / "DONE").write_text('{"fingerp')
    again = RecordingExecutor()
    run(tmp_path, again)
    assert again.ran == ["sa"]  # sa's fingerprint is unchanged, so later stages stay valid


def test_an_interrupted_attempt_keeps_its_data_and_a_changed_one_starts_clean(tmp_path):
    executor = RecordingExecutor(fail={"cm_ner"})
    with pytest.raises(StageFailed):
        run(tmp_path, executor)
    data = tmp_path / "cm_ner" / "data" / "cm_ner.jsonl"
    stamp = data.stat().st_mtime_ns
    (tmp_path / "cm_ner" / "output" / "checkpoint-4").mkdir(parents=True)  # torn: no trainer state
    run(tmp_path, RecordingExecutor(), "pipeline.skip=[cm_ner_re,cm_all,sa,de_ner,de_re,de_ee,eval]")
    assert data.stat().st_mtime_ns == stamp, "same inputs: the built data is reused"
    assert not (tmp_path / "cm_ner" / "output" / "checkpoint-4").exists(), "a torn checkpoint is dropped"
    run(tmp_path, RecordingExecutor(), "stages.cm_ner.mixture.ner=24",
        "pipeline.skip=[cm_ner_re,cm_all,sa,de_ner,de_re,de_ee,eval]")
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert len(rows) == 24


def test_evaluating_several_models_ends_with_their_progression(tmp_path):
    executor = RecordingExecutor()
    plan, rows = run(tmp_path, executor, "pipeline.eval.models=[base,sa,final]")
    assert executor.ran[-3:] == ["eval_base", "eval_sa", "eval"]
    progression = json.loads((tmp_path / "progression.json").read_text())
    assert [(r["model"], r["final"]) for r in progression["rows"]] == [("base", False), ("sa", False), ("de_ee", True)]
    assert [r["scores"]["strict"]["ner"] for r in progression["rows"]] == [0.5, 0.5, 0.5]
    assert progression["full_run"] is True
    assert (tmp_path / "progression.md").is_file() and (tmp_path / "progression.png").is_file()
    run(tmp_path / "ablation", RecordingExecutor(), "pipeline.eval.models=[base,sa,final]", "pipeline.skip=[sa]")
    assert json.loads((tmp_path / "ablation" / "progression.json").read_text())["full_run"] is False
    run(tmp_path / "cm_only", RecordingExecutor(), "pipeline.order=[cm_ner]")  # skips nothing, trains CM only
    progression = json.loads((tmp_path / "cm_only" / "progression.json").read_text())
    assert progression["full_run"] is False and "ProUIE (CM+SA+DE)" not in (tmp_path / "cm_only" / "progression.md")\
        .read_text()
