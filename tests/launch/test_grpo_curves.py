"""A DE stage's per-step curves: the rows and the reward trend from a trainer log, and the files a real TRL stage
writes (the smoke recipe's de_ner on the tiny model, through the driver)."""

from __future__ import annotations

import json

import pytest
from scipy.stats import ttest_ind

from launch.compose import compose_recipe
from launch.driver import execute_plan
from launch.engines import grpo_curves, grpo_records
from launch.executors.local import LocalExecutor
from launch.plan import build_plan

# What TRL 0.24's GRPOTrainer logs with logging_steps 1 and beta 0 (no "kl"), then the Trainer's closing entry.
LOG = [
    {"loss": 0.01, "grad_norm": 1.5, "learning_rate": 1e-4, "num_tokens": 900.0, "completions/mean_length": 40.0,
     "completions/clipped_ratio": 0.5, "rewards/sfr/mean": 0.1, "reward": 0.1, "reward_std": 0.2,
     "frac_reward_zero_std": 0.5, "entropy": 3.0, "clip_ratio/region_mean": 0.0, "epoch": 0.2, "step": 1},
    {"loss": 0.02, "learning_rate": 8e-5, "completions/mean_length": 30.0, "completions/clipped_ratio": 0.25,
     "reward": 0.3, "reward_std": 0.1, "frac_reward_zero_std": 0.0, "entropy": 2.5, "epoch": 0.4, "step": 2},
    {"loss": 0.0, "learning_rate": 6e-5, "completions/mean_length": 20.0, "completions/clipped_ratio": 0.0,
     "reward": 0.2, "reward_std": 0.0, "frac_reward_zero_std": 1.0, "entropy": 2.0, "epoch": 0.6, "step": 3},
    {"train_runtime": 9.0, "train_loss": 0.01, "epoch": 0.6, "step": 3},
]


def test_rows_are_one_per_step_with_the_trl_values():
    rows = grpo_curves.curve_rows(LOG)
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert rows[0] == {"step": 1, "reward_mean": 0.1, "reward_std": 0.2, "frac_reward_zero_std": 0.5, "kl": None,
                       "entropy": 3.0, "completion_mean_length": 40.0, "completion_clipped_ratio": 0.5,
                       "loss": 0.01, "learning_rate": 1e-4}
    assert [row["frac_reward_zero_std"] for row in rows] == [0.5, 0.0, 1.0]
    assert grpo_curves.curve_rows([{**LOG[0], "kl": 0.03}])[0]["kl"] == 0.03


def test_reward_trend_compares_the_first_and_last_fifth_of_the_steps():
    rows = [{"reward_mean": r} for r in (0.1, 0.12, 0.0, 0.4, 0.4, 0.4, 0.5, 0.6, 0.6, 0.62)]
    trend = grpo_curves.reward_trend(rows)
    assert trend["steps"] == 10 and trend["window_steps"] == 2
    assert trend["first_mean"] == pytest.approx(0.11) and trend["last_mean"] == pytest.approx(0.61)
    assert trend["gain"] == pytest.approx(0.5)
    # Welch's t over the steps of each window (se 0.0141, df 2): the interval of scipy's own Welch test
    welch = ttest_ind([0.6, 0.62], [0.1, 0.12], equal_var=False).confidence_interval(0.95)
    assert trend["gain_ci95"] == pytest.approx([welch.low, welch.high])
    assert trend["gain_ci95"] == pytest.approx([0.5 - 4.3027 * 0.014142, 0.5 + 4.3027 * 0.014142], abs=1e-4)
    assert grpo_curves.trend_text(trend) == ": last 2 - first 2 steps +0.500, 95% CI [+0.439, +0.561]"
    assert grpo_curves.reward_trend(rows[:4])["window_steps"] == 1
    assert grpo_curves.reward_trend(rows[:4])["gain_ci95"] is None  # one step a window: no spread to measure
    assert grpo_curves.reward_trend(rows[:1]) is None
    assert grpo_curves.reward_trend([{"reward_mean": 0.0}] * 10)["gain_ci95"] is None  # no spread in either window


def test_write_puts_the_rows_the_trend_and_a_plot_in_the_stage_folder(tmp_path):
    rows = grpo_curves.curve_rows(LOG)
    paths = grpo_curves.write("de_ner", rows, tmp_path)
    assert paths == {"json": str(tmp_path / "curves.json"), "plot": str(tmp_path / "curves.png")}
    saved = json.loads((tmp_path / "curves.json").read_text())
    assert saved["stage"] == "de_ner" and saved["steps"] == rows
    assert saved["reward_trend"]["gain"] == pytest.approx(0.1)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("experiment", ["smoke", "mini"])
def test_de_stages_log_every_step(experiment, tmp_path):
    """The rendered DE configs log each optimizer step (the model is the tiny one: it does not change the args)."""
    plan = build_plan(compose_recipe([f"+experiment={experiment}", f"pipeline.run_dir={tmp_path}",
                                      "model.name_or_path=tiny"]))
    de = [stage for stage in plan.stages if stage.kind == "grpo"]
    assert [stage.config["trainer"]["logging_steps"] for stage in de] == [1, 1, 1]


def test_a_trl_de_stage_writes_its_curves(tmp_path):
    """The smoke recipe's de_ner for real (TRL on the tiny model), at its smallest: 6 prompts, 2 rollouts each,
    one prompt a step, two epochs (each prompt seen twice), short completions; beta > 0 so TRL also logs the KL."""
    plan = build_plan(compose_recipe([
        "+experiment=smoke", f"pipeline.run_dir={tmp_path}",
        "pipeline.skip=[cm_ner,cm_ner_re,cm_all,sa,de_re,de_ee,eval]",
        "stages.de_ner.count=6", "stages.de_ner.rollout_n=2", "stages.de_ner.epochs=2",
        "grpo.args.per_device_train_batch_size=2",
        "grpo.args.max_completion_length=8", "grpo.args.beta=0.04",
        "pipeline.threads=1"]))  # a tiny model: a second thread only waits (conftest's one-thread fixture)
    [row] = execute_plan(plan, LocalExecutor())
    stage_dir = tmp_path / "de_ner"
    curves = json.loads((stage_dir / "curves.json").read_text())
    assert [step["step"] for step in curves["steps"]] == list(range(1, 13))  # one row per optimizer step
    for step in curves["steps"]:
        assert set(step) == set(grpo_curves.FIELDS)
        assert all(isinstance(step[key], float) for key in grpo_curves.FIELDS if key != "step"), step
        assert 0.0 <= step["frac_reward_zero_std"] <= 1.0 and 0 < step["completion_mean_length"] <= 8
    assert (stage_dir / "curves.png").stat().st_size > 10_000
    assert row["curves"] == {"json": str(stage_dir / "curves.json"), "plot": str(stage_dir / "curves.png")}
    assert row["reward_trend"] == curves["reward_trend"] and row["reward_trend"]["window_steps"] == 3
    # each completion's reward, recorded by the step that trains it: 2 rollouts of one prompt a step
    records = grpo_records.read(stage_dir / grpo_records.RECORDS_NAME)
    assert [line["step"] for line in records] == [step for step in range(1, 13) for _ in range(2)]
    per_step = {}
    for line in records:
        per_step.setdefault(line["step"], []).append(line["reward"])
    logged = {step["step"]: step["reward_mean"] for step in curves["steps"]}
    assert {s: sum(r) / len(r) for s, r in per_step.items()} == pytest.approx(logged)  # what TRL logged as reward
    ids = {line["id"] for line in records}
    assert row["prompt_trend"] == curves["prompt_trend"] == grpo_records.prompt_trend(records)
    assert row["prompt_trend"]["prompts"] == len(ids) and len(row["prompt_trend"]["visit_means"]) >= 2
    assert json.loads((stage_dir / "DONE").read_text())["results"]["curves"] == row["curves"]
