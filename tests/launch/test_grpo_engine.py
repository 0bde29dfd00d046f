"""The GPU engines' stage plumbing that needs no engine: rendered settings, data layouts, the driver-side data check.

(What the engines themselves make of it is in test_engines.py, inside their environments.)
"""

from __future__ import annotations

import json

import pytest

from launch.compose import compose_recipe
from launch.driver import build_data
from launch.engines import easyr1, verl
from launch.plan import build_plan
from launch.stage import StageFailed


def de_ner(tmp_path, grpo: str, *overrides: str):
    plan = build_plan(compose_recipe(["+experiment=smoke", f"grpo={grpo}", "cluster.gpus_per_node=1",
                                      f"pipeline.run_dir={tmp_path}", "pipeline.skip=[cm_ner,cm_ner_re,cm_all,sa]",
                                      *overrides]))
    return plan, plan.stages[0]


def test_verl_settings_name_the_stage_files_chat_template_and_reward(tmp_path):
    plan, stage = de_ner(tmp_path, "verl_smoke")
    conf = stage.config
    assert conf["actor_rollout_ref"]["model"]["path"] == stage.input_model
    assert conf["actor_rollout_ref"]["rollout"]["n"] == 4 and conf["trainer"]["n_gpus_per_node"] == 1
    assert conf["reward"]["custom_reward_function"] == {"path": str(verl.REWARD_FILE), "name": "compute_score",
                                                        "+reward_kwargs": stage.reward}
    assert conf["trainer"]["default_local_dir"] == str(stage.stage_dir / "checkpoints")
    assert conf["data"]["val_files"] == str(stage.data_dir / "val.jsonl")
    job = verl.VerlGRPO().jobs(stage)[0]
    assert job.argv == [stage.python, "-m", "verl.trainer.main_ppo", f"--config-path={stage.stage_dir}",
                        "--config-name=ppo_trainer"]
    assert job.env["VERL_FILE_LOGGER_PATH"] == str(stage.stage_dir / "metrics.jsonl")


def test_each_engine_gets_its_own_prompt_layout(tmp_path):
    _, verl_stage = de_ner(tmp_path / "v", "verl_smoke")
    _, easyr1_stage = de_ner(tmp_path / "e", "easyr1_smoke")
    assert verl_stage.data["prompt_format"] == "messages" and "prompt_format" not in easyr1_stage.data
    build_data(verl_stage)
    build_data(easyr1_stage)
    verl_row = json.loads((verl_stage.data_dir / "train.jsonl").read_text().splitlines()[0])
    easyr1_row = json.loads((easyr1_stage.data_dir / "train.jsonl").read_text().splitlines()[0])
    assert verl_row["prompt"] == [{"role": "user", "content": easyr1_row["prompt"]}]  # same records, same seed
    assert verl_row["reward_model"]["ground_truth"] == easyr1_row["answer"]
    verl.VerlGRPO().check_data(verl_stage)
    easyr1.EasyR1GRPO().check_data(easyr1_stage)


def test_a_plain_string_prompt_is_not_verl_data(tmp_path):
    """verl's RLHFDataset would drop every row (filter_overlong_prompts) or split the string into characters."""
    _, stage = de_ner(tmp_path, "verl_smoke", "grpo.data.prompt_format=text")
    build_data(stage)
    with pytest.raises(StageFailed, match=r"train.jsonl:1.*row 1 is not verl data: 'prompt' must be chat messages"):
        verl.VerlGRPO().check_data(stage)


def test_chat_messages_are_not_easyr1_data(tmp_path):
    _, stage = de_ner(tmp_path, "easyr1_smoke", "+grpo.data.prompt_format=messages")
    build_data(stage)
    with pytest.raises(StageFailed, match=r"train.jsonl:1.*'prompt' must be a plain string for EasyR1"):
        easyr1.EasyR1GRPO().check_data(stage)


def test_verl_without_checkpoints_is_refused(tmp_path):
    _, stage = de_ner(tmp_path, "verl_smoke", "grpo.config.trainer.save_freq=-1")
    with pytest.raises(StageFailed, match=r"save_freq <= 0"):
        verl.VerlGRPO().validate(stage)
