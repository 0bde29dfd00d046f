"""GRPO stages with EasyR1 (the paper's DE engine, GPU clusters): render, check, run, merge to Hugging Face.

The stage config is EasyR1's own YAML (sections data / algorithm / worker / trainer), run as
``<EasyR1 env>/bin/python -m verl.trainer.main config=<stage>/config.yaml`` in EasyR1's own environment
(``scripts/setup_engine.sh easyr1``; EasyR1 installs a module named ``verl``, which the driver never imports).
Pitfalls handled (notes: upstream-easyr1-verl §0-1):

- every path is absolute (EasyR1 resolves relative paths against its working directory, and a missing file is
  only a printed warning: the check makes it an error);
- EasyR1 always builds a validation set and validates after training: ``data.val_files`` is the first
  ``grpo.val_rows`` prompts of the stage's own data (``val.jsonl``; not held out, an end-of-stage reward);
- the reward is ``rewards/easyr1.py:compute_score`` with the recipe's ``reward`` group as its kwargs;
- each stage has its own ``save_checkpoint_path``, so a new stage never auto-resumes the previous one;
  ``find_last_checkpoint`` stays on and only ever resumes an interrupted attempt of the same stage (the driver
  empties the stage folder when the stage's inputs changed);
- EasyR1 empties ``experiment_log.jsonl`` when it starts: each attempt's log is kept aside first, and the
  stage's results cover the steps of every attempt;
- the prompt is wrapped by ``data.override_chat_template`` = ``converters.chat.engine_chat_template``, the same
  bytes as SFT and eval (checked on the stage's data through EasyR1's own dataset);
- after training, EasyR1's ``scripts/model_merger.py`` (kept in the environment by the set-up) turns the last
  checkpoint into a Hugging Face model, copied into the stage's output folder with ``generation_config.json``
  checked to still stop at the base model's EOS ids (older EasyR1 dropped Qwen3's ``<|im_end|>``).

Checks by EasyR1's own code (``launch.easyr1_check``, run in EasyR1's environment): before anything runs, the
rendered config through ``PPOConfig`` and the reward file through ``AutoRewardManager`` (scores equal to a direct
call); when the stage starts, its data through ``create_dataloader`` (train and validation). Without the
environment, validation says what it could not check. The batch rules EasyR1 only enforces once it has GPUs are
evaluated here too.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launch import grpo_engine
from launch.backend_env import REPO_ROOT, backend_env, cluster_shape
from launch.stage import Backend, StageFailed, StageJob, StagePlan

REWARD_FILE = REPO_ROOT / "rewards" / "easyr1.py"
CHECK_MODULE = "launch.easyr1_check"
MERGER = "share/easyr1/scripts/model_merger.py"  # inside the environment (scripts/setup_engine.sh)


def _paths(stage: StagePlan) -> dict[str, Path]:
    return {"checkpoints": stage.stage_dir / "checkpoints", "chat_template": stage.stage_dir / "chat_template.jinja",
            "train": stage.data_dir / "train.jsonl", "val": stage.data_dir / "val.jsonl",
            "log": stage.stage_dir / "checkpoints" / "experiment_log.jsonl",
            "earlier_logs": stage.stage_dir / "experiment_log.earlier.jsonl"}


def render(stage: StagePlan, cfg: dict[str, Any]) -> dict[str, Any]:
    """The EasyR1 config of one DE stage (the recipe's grpo.config + the stage's args + planner-owned keys)."""
    conf = grpo_engine.stage_settings(stage, cfg)
    nnodes, gpus = cluster_shape(cfg["cluster"])
    data, worker, trainer = (conf.setdefault(k, {}) for k in ("data", "worker", "trainer"))
    paths = _paths(stage)
    data.update(train_files=str(paths["train"]), val_files=str(paths["val"]), prompt_key="prompt",
                answer_key="answer", override_chat_template=str(paths["chat_template"]), seed=int(cfg["seed"]))
    actor, rollout, reward = (worker.setdefault(k, {}) for k in ("actor", "rollout", "reward"))
    actor.setdefault("model", {})["model_path"] = stage.input_model
    rollout["n"] = int(stage.rollout_n)
    rollout["tensor_parallel_size"] = max(1, min(int(rollout.get("tensor_parallel_size", 1)), gpus or 1))
    needed = int(data.get("max_prompt_length", 512)) + int(data.get("max_response_length", 512))
    rollout["max_num_batched_tokens"] = max(int(rollout.get("max_num_batched_tokens", 0)), needed)
    reward.update(reward_function=f"{REWARD_FILE}:compute_score", reward_function_kwargs=dict(stage.reward))
    trainer.update(total_epochs=int(stage.epochs), nnodes=nnodes, n_gpus_per_node=gpus,
                   experiment_name=f"{cfg['experiment_name']}-{stage.name}",
                   save_checkpoint_path=str(paths["checkpoints"]), find_last_checkpoint=True)
    trainer.pop("load_checkpoint_path", None)
    return conf


def batch_problems(conf: Mapping[str, Any], samples: int) -> list[str]:
    """EasyR1's batch rules (notes §1.3), which it checks only once it has GPUs, on the rendered config."""
    data, worker, trainer = conf["data"], conf["worker"], conf["trainer"]
    actor, rollout = worker["actor"], worker["rollout"]
    world = int(trainer["nnodes"]) * int(trainer["n_gpus_per_node"])
    rbs, gbs, n = int(data["rollout_batch_size"]), int(actor["global_batch_size"]), int(rollout["n"])
    micro_exp = int(actor.get("micro_batch_size_per_device_for_experience", 16))
    micro_upd = int(actor.get("micro_batch_size_per_device_for_update", 4))
    tp = int(rollout["tensor_parallel_size"])
    problems = []
    if world < 1:
        problems.append("trainer.n_gpus_per_node x nnodes must be >= 1 (EasyR1 needs GPUs: cluster.gpus_per_node)")
        return problems
    if rbs % gbs:
        problems.append(f"data.rollout_batch_size {rbs} % worker.actor.global_batch_size {gbs} != 0")
    if (rbs * n) % micro_exp:
        problems.append(f"rollout_batch_size*n {rbs * n} % micro_batch_size_per_device_for_experience {micro_exp} != 0")
    if (gbs * n) % world or (gbs * n) // world == 0 or ((gbs * n) // world) % micro_upd:
        problems.append(f"global_batch_size*n {gbs * n} must split over {world} GPUs into multiples of "
                        f"micro_batch_size_per_device_for_update {micro_upd}")
    if tp > world or world % tp:
        problems.append(f"rollout.tensor_parallel_size {tp} must divide the {world} GPUs")
    if rbs % world:
        problems.append(f"rollout_batch_size {rbs} must divide evenly over {world} GPUs")
    if samples < rbs:
        problems.append(f"the stage has {samples} prompts, fewer than rollout_batch_size {rbs} (drop_last: no step)")
    if int(rollout["max_num_batched_tokens"]) < int(data["max_prompt_length"]) + int(data["max_response_length"]):
        problems.append("rollout.max_num_batched_tokens < max_prompt_length + max_response_length")
    return problems


def _reward_kwargs(conf: Mapping[str, Any]) -> dict[str, Any]:
    return conf["worker"]["reward"]["reward_function_kwargs"]


def validate(stage: StagePlan) -> list[str]:
    """Batch rules, then EasyR1's own config and reward checks; returns notes on what was not checked."""
    problems = batch_problems(stage.config, stage.samples)
    if problems:
        raise StageFailed(stage.name, stage.config_path,
                          "EasyR1 batch settings are inconsistent: " + "; ".join(problems) +
                          ". Fix grpo.config (data.rollout_batch_size, worker.actor.*) or the cluster profile")
    with tempfile.TemporaryDirectory(prefix="prouie-easyr1-") as tmp:
        template = Path(tmp) / "chat_template.jinja"  # the real one is written when the stage starts
        template.write_text("{{ messages[0]['content'] }}", encoding="utf-8")
        conf = copy.deepcopy(stage.config)
        conf["data"]["override_chat_template"] = str(template)
        return grpo_engine.validate_in_engine(stage, CHECK_MODULE, conf, _reward_kwargs(conf))


def _easyr1_row(row: dict[str, Any]) -> None:
    from rewards.inputs import gold_from_answer

    if not isinstance(row.get("prompt"), str):
        raise ValueError("'prompt' must be a plain string for EasyR1")
    if {"images", "videos"} & set(row):
        raise ValueError("an 'images'/'videos' column sends EasyR1 down its multimodal path")
    gold_from_answer(row["answer"])


def check_data(stage: StagePlan) -> None:
    """Every row of train.jsonl has a plain-string ``prompt`` and a JSON-record ``answer``, and no image or video
    column (EasyR1 would take its multimodal path); the row count is the stage's."""
    grpo_engine.check_rows(stage, _paths(stage)["train"], _easyr1_row)


def jobs(stage: StagePlan, cfg: dict[str, Any]) -> list[StageJob]:
    nnodes, gpus = cluster_shape(cfg["cluster"])
    return [StageJob(stage=stage.name, argv=[stage.python, "-m", "verl.trainer.main", f"config={stage.config_path}"],
                     env=backend_env(stage.threads, stage.python), cwd=str(REPO_ROOT), log_path=str(stage.log_path),
                     num_gpus=gpus, nnodes=nnodes, multinode="ray_driver")]


def prepare(stage: StagePlan, cfg: dict[str, Any]) -> Path | None:
    """Write the chat template and the validation file, check the data with EasyR1's own dataloader, keep the
    last attempt's log; an interrupted attempt resumes through EasyR1's checkpoint tracker."""
    from transformers import AutoTokenizer

    from converters.chat import chat_prompt, engine_chat_template

    paths = _paths(stage)
    tokenizer = AutoTokenizer.from_pretrained(stage.input_model)
    paths["chat_template"].write_text(engine_chat_template(stage.template, tokenizer), encoding="utf-8")
    head = grpo_engine.write_val_file(paths["train"], paths["val"], int(cfg["grpo"]["val_rows"]))
    with tempfile.TemporaryDirectory(prefix="prouie-easyr1-") as tmp:
        report = grpo_engine.check_in_engine(stage, CHECK_MODULE, stage.config, _reward_kwargs(stage.config),
                                             Path(tmp), ["--data"], log=True)
    ours = [chat_prompt(json.loads(row)["prompt"], stage.template, tokenizer) for row in head]
    grpo_engine.check_engine_data(stage, report["data"], ours, len(head), "filter_overlong_prompts drops prompts "
                                  "longer than data.max_prompt_length; raise it in grpo.config")
    grpo_engine.keep_log_aside(paths["log"], paths["earlier_logs"])
    tracker = paths["checkpoints"] / "checkpoint_tracker.json"
    return paths["checkpoints"] if tracker.is_file() else None


def last_actor_dir(stage: StagePlan) -> Path:
    tracker = _paths(stage)["checkpoints"] / "checkpoint_tracker.json"
    if not tracker.is_file():
        raise StageFailed(stage.name, tracker, "EasyR1 finished without a checkpoint tracker; see stage.log")
    step = json.loads(tracker.read_text(encoding="utf-8"))["last_global_step"]
    return _paths(stage)["checkpoints"] / f"global_step_{step}" / "actor"


def merger_script(stage: StagePlan, cfg: Mapping[str, Any]) -> Path:
    """EasyR1's ``scripts/model_merger.py``: ``grpo.merger``, or the copy in the environment."""
    return Path(cfg["grpo"].get("merger") or Path(stage.python).parents[1] / MERGER)


def finish(stage: StagePlan, cfg: dict[str, Any], run_job) -> None:
    """Merge the last checkpoint with EasyR1's merger and copy it to ``output/`` (keeping the EOS ids)."""
    actor = last_actor_dir(stage)
    run_job(StageJob(stage=stage.name, argv=[stage.python, str(merger_script(stage, cfg)), "--local_dir", str(actor)],
                     env=backend_env(stage.threads, stage.python), cwd=str(REPO_ROOT), log_path=str(stage.log_path)))
    grpo_engine.publish(stage, actor / "huggingface")


def results(stage: StagePlan) -> dict[str, Any]:
    """Mean of ``reward/overall`` over every training step of every attempt (experiment_log.jsonl)."""
    paths = _paths(stage)
    return grpo_engine.reward_results(grpo_engine.step_values([paths["earlier_logs"], paths["log"]],
                                                              "reward/overall"))


class EasyR1GRPO(Backend):
    """DE stages with EasyR1 in its own environment, merged to Hugging Face format after."""

    stage_code = ("converters.stages", "rewards.easyr1")  # the code behind the stage's data and reward
    render = staticmethod(render)
    validate = staticmethod(validate)
    check_data = staticmethod(check_data)
    jobs = staticmethod(jobs)
    prepare = staticmethod(prepare)
    finish = staticmethod(finish)
    results = staticmethod(results)
