"""The DE engines' own code on what ProUIE renders, inside their own environments (EasyR1 from source, verl 0.9.1).

Per engine (one module-scoped stage each: the smoke recipe's de_ner on the tiny model, one GPU asked for):
EasyR1's / verl's dataset classes load the stage data (every row kept, the model input byte-identical to SFT's),
the reward file loads through the engine's own loader and scores what a direct call scores, the engine's real
main module gets through config, data and trainer set-up to the point where it asks for GPUs (as far as a CPU
goes), and the engine's merger turns a checkpoint in the engine's own layout into a model with the same logits.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from launch.compose import compose_recipe
from launch.driver import build_data, write_config
from launch.engines import gpu_grpo, verl
from launch.executors.local import LocalExecutor
from launch.models.handoff import check_same_model
from launch.plan import backend, build_plan
from launch.stage import StageFailed
from tests.helpers.smoke_runs import REPO

pytestmark = pytest.mark.slow

SMOKE = {"easyr1": ["grpo=easyr1_smoke"],
         # verl's TransferQueue and reward workers are Ray actors of one logical CPU each: more than 2 cores have
         "verl": ["grpo=verl_smoke", "+stages.de_ner.args.ray_kwargs.ray_init.num_cpus=8"]}
CHECKS = {"easyr1": "launch.engines.easyr1_check", "verl": "launch.engines.verl_check"}
GPU_REQUEST = re.compile(r"Total available GPUs 0(\.0)? is less than total desired GPUs 1")
REACHED = {"easyr1": ["Size of train dataloader: 2", "Size of val dataloader: 1", "Total training steps: 2"],
           "verl": ["validate_config] All configuration checks passed", "train dataset size: 8, val dataset size: 4",
                    "Total training steps: 2"]}


def smoke_plan(engine: str, run_dir: Path, *overrides: str):
    return build_plan(compose_recipe(["+experiment=smoke", *SMOKE[engine], "cluster.gpus_per_node=1",
                                      "pipeline.skip=[cm_ner,cm_ner_re,cm_all,sa]", f"pipeline.run_dir={run_dir}",
                                      *overrides]))


@pytest.fixture(scope="module", params=["easyr1", "verl"])
def engine_stage(request, tmp_path_factory, engine_envs):
    """A de_ner stage of the engine, data built and prepared (the engine's own data + reward check passed)."""
    engine = request.param
    plan = smoke_plan(engine, tmp_path_factory.mktemp(engine) / "run")
    stage = plan.stages[0]
    assert stage.engine == engine and stage.python == str(engine_envs[engine])
    build_data(stage)
    module = backend(engine)
    module.check_data(stage)
    write_config(stage)
    assert module.prepare(stage) is None  # nothing to resume
    return engine, plan, stage


def test_the_engines_dataset_keeps_every_row_and_builds_sft_bytes(engine_stage, tmp_path):
    from transformers import AutoTokenizer

    from converters.chat import chat_prompt, engine_chat_template

    engine, plan, stage = engine_stage
    tokenizer = AutoTokenizer.from_pretrained(stage.input_model)
    config = stage.config
    if engine == "verl":  # as prepare composed ppo_trainer.yaml: the chat template of the input model's tokenizer
        config = verl.with_chat_template(stage, engine_chat_template(stage.template, tokenizer))
        tree = yaml.safe_load((stage.stage_dir / "ppo_trainer.yaml").read_text())
        assert tree["actor_rollout_ref"]["model"]["custom_chat_template"] == \
            config["actor_rollout_ref"]["model"]["custom_chat_template"]
    report = gpu_grpo.check_in_engine(stage, CHECKS[engine], config, dict(stage.reward), tmp_path, ["--data"])
    rows = [json.loads(line) for line in (stage.data_dir / "train.jsonl").read_text().splitlines()]
    prompt = rows[0]["prompt"] if engine == "easyr1" else rows[0]["prompt"][0]["content"]
    assert report["data"]["train_rows"] == stage.samples == 8
    assert report["data"]["val_rows"] == 4 == len((stage.data_dir / "val.jsonl").read_text().splitlines())
    assert report["data"]["prompts"][0] == chat_prompt(prompt, stage.template, tokenizer)
    assert report["problems"] == [] and any(c.startswith("reward:") for c in report["checked"])


def test_a_reward_that_scores_differently_is_caught(engine_stage, tmp_path, monkeypatch):
    """The probe comparison is live: off by 0.01 in the direct scores -> every row is reported."""
    import launch.engines.reward_probe as reward_probe

    engine, plan, stage = engine_stage
    real = reward_probe.probe_rows

    def shifted(*args, **kwargs):
        rows = real(*args, **kwargs)
        for row in rows:
            row["expected"]["overall"] += 0.01
        return rows

    monkeypatch.setattr(reward_probe, "probe_rows", shifted)
    with pytest.raises(StageFailed, match=r"reward probe row 0: overall = .* directly"):
        gpu_grpo.check_in_engine(stage, CHECKS[engine], stage.config, dict(stage.reward), tmp_path)


def test_the_real_entry_point_gets_to_the_gpu_request(engine_stage):
    engine, plan, stage = engine_stage
    job = backend(engine).jobs(stage)[0]
    assert job.argv[0] == stage.python and job.env["PATH"].startswith(str(Path(stage.python).parent))
    result = subprocess.run(job.argv, cwd=job.cwd, env={**os.environ, **job.env}, capture_output=True,
                            text=True, timeout=600, start_new_session=True)  # its Ray cleans up its own group
    out = result.stdout + result.stderr
    assert result.returncode != 0 and GPU_REQUEST.search(out), out[-3000:]
    for marker in REACHED[engine]:
        assert marker in out, f"{engine} did not get to {marker!r}:\n{out[-3000:]}"
    errors = [line for line in out.splitlines() if re.match(r"^\w*(Error|Exception): ", line)]  # raised, not wrapped
    assert errors and all(GPU_REQUEST.search(line) for line in errors), errors
    assert out.count("Traceback (most recent call last)") == 1


def test_merge_of_an_engine_checkpoint_gives_the_same_model(engine_stage):
    """The engine's own checkpoint manager writes an FSDP checkpoint (CPU, gloo); the stage's finish merges it."""
    engine, plan, stage = engine_stage
    checkpoints = stage.stage_dir / "checkpoints"
    actor = checkpoints / "global_step_1" / "actor"
    made = subprocess.run([stage.python, str(REPO / "tests" / "helpers" / "fsdp_checkpoint.py"), engine,
                           stage.input_model, str(actor)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    if engine == "easyr1":
        (checkpoints / "checkpoint_tracker.json").write_text(json.dumps({"last_global_step": 1}))
    else:
        (checkpoints / "latest_checkpointed_iteration.txt").write_text("1")
    executor = LocalExecutor()
    backend(engine).finish(stage, lambda job: executor.run(job) == 0 or pytest.fail(job.argv))
    before = load_file(Path(stage.input_model) / "model.safetensors")
    after = load_file(stage.output_dir / "model.safetensors")
    if "lm_head.weight" in after:  # the tiny model ties it to the embeddings; EasyR1's merger writes it out
        before["lm_head.weight"] = before["model.embed_tokens.weight"]
    assert sorted(after) == sorted(before)
    for key, tensor in after.items():  # EasyR1's merger writes bf16 (by design), verl's the checkpoint's dtype
        assert torch.equal(tensor, before[key].to(tensor.dtype)), key
    # engine output -> the next environment (eval, main): written by the engine's transformers, same logits here
    assert (stage.output_dir / "generation_config.json").is_file()
    report = check_same_model(stage.name, str(stage.output_dir), stage.python, sys.executable)
    assert report["max_logit_difference"] <= 1e-4


def test_results_cover_every_attempt(engine_stage):
    """The engines empty their metrics log on every start; the stage's mean reward still covers all steps."""
    engine, plan, stage = engine_stage
    paths = backend(engine).paths(stage)
    line = ({"easyr1": lambda s, r: {"step": s, "reward": {"overall": r}},
             "verl": lambda s, r: {"step": s, "data": {"critic/score/mean": r}}})[engine]
    paths["log"].parent.mkdir(parents=True, exist_ok=True)
    paths["log"].write_text("".join(json.dumps(line(s, r)) + "\n" for s, r in ((1, 0.2), (2, 0.4))))
    gpu_grpo.keep_log_aside(paths["log"], paths["earlier_logs"])  # what prepare does before the next attempt
    assert paths["log"].read_text() == ""
    paths["log"].write_text("".join(json.dumps(line(s, r)) + "\n" for s, r in ((2, 0.6), (3, 0.8))))
    assert backend(engine).results(stage) == {"mean_reward": pytest.approx((0.2 + 0.6 + 0.8) / 3), "final_reward": 0.8,
                                     "steps": 3}
