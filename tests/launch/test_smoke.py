"""The smoke recipe end to end with the real backends (LLaMA-Factory, TRL, eval) on CPU.

One full run per test session (the ``smoke_run`` fixture of conftest.py) is shared by the checks on its
outputs; the interrupt and invalidation tests reuse its finished stages (copied, so fingerprints match) and only
rerun what they test.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers.smoke_runs import EVAL_STAGES, REPO, done, smoke_pipeline_argv, weights_sha
from tests.helpers.smoke_runs import TRAINING_STAGES as TRAINING

pytestmark = pytest.mark.slow

AFTER_CM2 = "pipeline.skip=[cm_all,sa,de_ner,de_re,de_ee,eval]"
ALL_STAGES = [*TRAINING, *EVAL_STAGES]


def pipeline(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(smoke_pipeline_argv(run_dir, *overrides), cwd=REPO, capture_output=True, text=True,
                          timeout=1500)


def test_every_stage_ran_and_left_a_model(smoke_run):
    for name in TRAINING:
        marker = done(smoke_run / name)
        assert marker["results"]["checkpoint"] == str(smoke_run / name / "output")
        assert (smoke_run / name / "output" / "model.safetensors").is_file()
        assert (smoke_run / name / "config.yaml").is_file() and (smoke_run / name / "stage.log").is_file()
        assert not list((smoke_run / name / "output").glob("checkpoint-*")), "intermediate checkpoints are dropped"
    report = json.loads((smoke_run / "eval" / "output" / "report.json").read_text())
    assert report["model"] == str(smoke_run / "de_ee" / "output")
    assert {d["task"] for d in report["datasets"]} == {"ner", "re", "ee"}


def test_the_run_ends_with_the_progression_of_every_evaluated_checkpoint(smoke_run, tiny_model_dir):
    progression = json.loads((smoke_run / "progression.json").read_text())
    assert [r["model"] for r in progression["rows"]] == ["base", "cm_all", "sa", "de_ee"]
    assert [r["final"] for r in progression["rows"]] == [False, False, False, True] and progression["full_run"]
    evaluated = {"base": tiny_model_dir, "cm_all": smoke_run / "cm_all" / "output",
                 "sa": smoke_run / "sa" / "output", "de_ee": smoke_run / "de_ee" / "output"}
    for stage, row in zip(EVAL_STAGES, progression["rows"]):
        assert row["report"] == str(smoke_run / stage / "output" / "report.json")
        report = json.loads(Path(row["report"]).read_text())
        assert report["model"] == str(evaluated[row["model"]])  # the checkpoint its stage produced
        assert set(row["scores"]["strict"]) == {"ner", "re", "ee_trigger", "ee_argument"}
        assert row["scores"]["strict"]["ner"] == report["averages"]["ner/strict"]
        assert 0.0 <= row["validity"]["valid"] <= row["validity"]["parsed"] <= 1.0
    evaluates = {stage: done(smoke_run / stage)["results"]["evaluates"] for stage in EVAL_STAGES}
    assert evaluates == {"eval_base": "base", "eval_cm_all": "cm_all", "eval_sa": "sa", "eval": "de_ee"}
    styles = {stage: yaml.safe_load((smoke_run / stage / "config.yaml").read_text())["style"] for stage in EVAL_STAGES}
    assert styles == {"eval_base": "sa", "eval_cm_all": "cm", "eval_sa": "sa", "eval": "sa"}  # as last trained
    markdown = (smoke_run / "progression.md").read_text()
    assert "| base |" in markdown and "## Table 6 on generated outputs" in markdown
    assert "| RE | CM (`cm_all`)" in markdown and "| EE | CM+SA (`sa`)" in markdown
    assert (smoke_run / "progression.png").stat().st_size > 10_000


def test_models_are_chained(smoke_run):
    previous = None
    for name in TRAINING:
        results = done(smoke_run / name)["results"]
        if previous:
            assert results["input_model"] == str(smoke_run / previous / "output")
        previous = name


def test_results_report_losses_rewards_and_exact_mixtures(smoke_run):
    summary = json.loads((smoke_run / "summary.json").read_text())
    rows = {r["stage"]: r for r in summary["stages"]}
    assert [r["stage"] for r in summary["stages"]] == ALL_STAGES
    for name in TRAINING[:4]:
        assert isinstance(rows[name]["final_loss"], float)
    for name in TRAINING[4:]:
        assert isinstance(rows[name]["mean_reward"], float)
    manifest = json.loads((smoke_run / "cm_all" / "data" / "manifest.json").read_text())
    assert {t: m["requested"] for t, m in manifest["tasks"].items()} == {"ner": 12, "re": 12, "ee": 16}
    assert rows["cm_all"]["samples"] == 40 and rows["de_re"]["samples"] == 4


def test_grpo_prompts_are_the_sa_prompts_of_their_records(smoke_run):
    from converters.format import render_prompt

    rows = [json.loads(line) for line in (smoke_run / "de_re" / "data" / "train.jsonl").open()]
    assert len(rows) == 4
    assert all(row["prompt"] == render_prompt(json.loads(row["answer"]), "sa", "default") for row in rows)


def test_a_rerun_finds_everything_done(smoke_run):
    before = {name: (smoke_run / name / "DONE").stat().st_mtime_ns for name in ALL_STAGES}
    result = pipeline(smoke_run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("cached (DONE, inputs unchanged)") == len(ALL_STAGES)
    assert before == {name: (smoke_run / name / "DONE").stat().st_mtime_ns for name in before}


def _copy_stages(src: Path, dst: Path, names: list[str]) -> None:
    for name in names:
        shutil.copytree(src / name, dst / name)


def test_killing_the_driver_mid_stage_then_rerunning_gives_the_same_model(smoke_run, tmp_path):
    run_dir = tmp_path / "run"
    _copy_stages(smoke_run, run_dir, ["cm_ner"])
    proc = subprocess.Popen(smoke_pipeline_argv(run_dir, AFTER_CM2), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_checkpoint = run_dir / "cm_ner_re" / "output" / "checkpoint-4" / "trainer_state.json"
    deadline = time.monotonic() + 900
    while not first_checkpoint.is_file():
        assert proc.poll() is None, "the driver ended before the stage saved a checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "cm_ner_re" / "DONE").exists()
    result = pipeline(run_dir, AFTER_CM2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cm_ner     cached" in result.stderr and "cm_ner_re: resuming from" in result.stderr
    assert "checkpoint-" in done(run_dir / "cm_ner_re")["results"]["resumed_from"]
    assert weights_sha(run_dir / "cm_ner_re") == weights_sha(smoke_run / "cm_ner_re")
    assert done(run_dir / "cm_ner_re")["fingerprint"] == done(smoke_run / "cm_ner_re")["fingerprint"]


def test_changing_cm2_reruns_cm2_and_later_but_not_cm1(smoke_run, tmp_path):
    run_dir = tmp_path / "run"
    _copy_stages(smoke_run, run_dir, ["cm_ner", "cm_ner_re", "cm_all"])
    skip = "pipeline.skip=[sa,de_ner,de_re,de_ee,eval]"
    cm1 = (run_dir / "cm_ner" / "DONE").read_bytes()
    result = pipeline(run_dir, skip, "+stages.cm_ner_re.args.learning_rate=5e-4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "cm_ner" / "DONE").read_bytes() == cm1
    assert "cm_ner     cached" in result.stderr
    for name in ("cm_ner_re", "cm_all"):
        assert done(run_dir / name)["fingerprint"] != done(smoke_run / name)["fingerprint"]
        assert weights_sha(run_dir / name) != weights_sha(smoke_run / name)
