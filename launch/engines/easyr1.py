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

Checks by EasyR1's own code (``launch.engines.easyr1_check``, run in EasyR1's environment): before anything runs, the
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

from launch.engines.environment import REPO_ROOT
from launch.engines.gpu_grpo import GPUGRPO, validate_in_engine
from launch.stage import StageFailed, StagePlan

REWARD_FILE = REPO_ROOT / "rewards" / "easyr1.py"
MERGER = "share/easyr1/scripts/model_merger.py"  # inside the environment (scripts/setup_engine.sh)
TRACKER = "checkpoint_tracker.json"  # in the checkpoint folder: the last saved step


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


class EasyR1GRPO(GPUGRPO):
    """DE stages with EasyR1 in its own environment, merged to Hugging Face format after."""

    stage_code = ("converters.stages", "rewards.easyr1")  # the code behind the stage's data and reward
    check_module = "launch.engines.easyr1_check"
    reward_metric = "reward/overall"  # experiment_log.jsonl

    def paths(self, stage: StagePlan) -> dict[str, Path]:
        return {"checkpoints": stage.stage_dir / "checkpoints",
                "chat_template": stage.stage_dir / "chat_template.jinja",
                "train": stage.data_dir / "train.jsonl", "val": stage.data_dir / "val.jsonl",
                "log": stage.stage_dir / "checkpoints" / "experiment_log.jsonl",
                "earlier_logs": stage.stage_dir / "experiment_log.earlier.jsonl"}

    def render(self, stage: StagePlan) -> dict[str, Any]:
        """The EasyR1 config of one DE stage (the recipe's grpo.config + the stage's args + planner-owned keys)."""
        paths = self.paths(stage)
        conf, gpus = self.common_settings(stage, answer_key="answer",
                                          override_chat_template=str(paths["chat_template"]))
        data, worker, trainer = (conf.setdefault(k, {}) for k in ("data", "worker", "trainer"))
        actor, rollout, reward = (worker.setdefault(k, {}) for k in ("actor", "rollout", "reward"))
        actor.setdefault("model", {})["model_path"] = stage.input_model
        rollout["n"] = int(stage.rollout_n)
        rollout["tensor_parallel_size"] = max(1, min(int(rollout.get("tensor_parallel_size", 1)), gpus or 1))
        needed = int(data.get("max_prompt_length", 512)) + int(data.get("max_response_length", 512))
        rollout["max_num_batched_tokens"] = max(int(rollout.get("max_num_batched_tokens", 0)), needed)
        reward.update(reward_function=f"{REWARD_FILE}:compute_score", reward_function_kwargs=dict(stage.reward))
        trainer.update(save_checkpoint_path=str(paths["checkpoints"]), find_last_checkpoint=True)
        trainer.pop("load_checkpoint_path", None)
        return conf

    def reward_kwargs(self, conf: Mapping[str, Any]) -> dict[str, Any]:
        return conf["worker"]["reward"]["reward_function_kwargs"]

    def validate(self, stage: StagePlan) -> list[str]:
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
            return validate_in_engine(stage, self.check_module, conf, self.reward_kwargs(conf))

    def check_row(self, row: dict[str, Any]) -> None:
        """A plain-string ``prompt``, a JSON-record ``answer``, and no image or video column (EasyR1 would take
        its multimodal path)."""
        from rewards.inputs import gold_from_answer

        if not isinstance(row.get("prompt"), str):
            raise ValueError("'prompt' must be a plain string for EasyR1")
        if {"images", "videos"} & set(row):
            raise ValueError("an 'images'/'videos' column sends EasyR1 down its multimodal path")
        gold_from_answer(row["answer"])

    def row_prompt(self, row: dict[str, Any]) -> str:
        return row["prompt"]

    def train_args(self, stage: StagePlan) -> list[str]:
        return ["-m", "verl.trainer.main", f"config={stage.config_path}"]

    def start_settings(self, stage: StagePlan, chat_template: str) -> dict[str, Any]:
        """The chat template goes into its own file (``data.override_chat_template`` names it)."""
        self.paths(stage)["chat_template"].write_text(chat_template, encoding="utf-8")
        return stage.config

    def resume_point(self, stage: StagePlan) -> Path | None:
        """The checkpoint folder once EasyR1's tracker is there (``find_last_checkpoint`` resumes from it)."""
        checkpoints = self.paths(stage)["checkpoints"]
        return checkpoints if (checkpoints / TRACKER).is_file() else None

    def last_actor_dir(self, stage: StagePlan) -> Path:
        tracker = self.paths(stage)["checkpoints"] / TRACKER
        if not tracker.is_file():
            raise StageFailed(stage.name, tracker, "EasyR1 finished without a checkpoint tracker; see stage.log")
        step = json.loads(tracker.read_text(encoding="utf-8"))["last_global_step"]
        return self.paths(stage)["checkpoints"] / f"global_step_{step}" / "actor"

    def merge_command(self, stage: StagePlan, actor: Path) -> tuple[list[str], Path]:
        """EasyR1's ``scripts/model_merger.py`` writes ``<actor>/huggingface``."""
        return [str(merger_script(stage)), "--local_dir", str(actor)], actor / "huggingface"


def merger_script(stage: StagePlan) -> Path:
    """EasyR1's ``scripts/model_merger.py``: ``grpo.merger``, or the copy in the environment."""
    return Path(stage.settings.grpo.merger or Path(stage.python).parents[1] / MERGER)
