"""GRPO stages with verl (PyPI, the second GPU engine): render, check, run, merge to Hugging Face.

verl runs in its own environment (``scripts/setup_engine.sh verl``: verl 0.9.1 needs transformers 5.5.3-5.10,
LLaMA-Factory 5.6.0 exactly, and it installs a module named ``verl`` like EasyR1). The stage has two files:

- ``config.yaml``: ProUIE's settings in verl's key space (the recipe's ``grpo.config`` + the stage's args + the
  planner's keys). A key that verl's ``ppo_trainer`` does not have is written ``+name`` (Hydra's convention):
  ``reward.custom_reward_function.+reward_kwargs`` carries the ``reward`` recipe group;
- ``ppo_trainer.yaml``: verl's own ``ppo_trainer`` tree, composed by Hydra from verl's config files with those
  settings merged in (``launch.engines.verl_check``, in verl's environment, when the stage starts). The job runs
  ``<verl env>/bin/python -m verl.trainer.main_ppo --config-path <stage> --config-name ppo_trainer``: verl's
  main with exactly that tree.

Data: verl's ``RLHFDataset`` wants the prompt as chat messages (``grpo/verl.yaml`` asks the builder for
``prompt_format: messages``) and ``data_source`` / ``reward_model.ground_truth``; the model input is the SFT
bytes through ``actor_rollout_ref.model.custom_chat_template`` (``converters.chat.engine_chat_template`` of the
input model's tokenizer: added to ``ppo_trainer.yaml`` when the stage starts, since the input model may not exist
before). Reward: ``rewards/verl.py:compute_score``.
Checkpoints: ``trainer.default_local_dir`` = ``<stage>/checkpoints`` with ``resume_mode: auto`` (an interrupted
attempt resumes; a new stage has a new folder), merged by ``python -m verl.model_merger merge --backend fsdp``.
verl's file logger empties its file when it starts: each attempt's log is kept aside (``launch.engines.gpu_grpo``).

Checks by verl's own code (``launch.engines.verl_check``): before anything runs, the settings through verl's Hydra
composition and ``validate_config``, and the reward file through verl's reward loop (scores equal to a direct
call); when the stage starts, the data through verl's ``RLHFDataset`` (train and validation, every row kept,
model input bytes equal to SFT's).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launch.engines.environment import REPO_ROOT
from launch.engines.gpu_grpo import GPUGRPO, merge_config, validate_in_engine
from launch.stage import StageFailed, StagePlan

REWARD_FILE = REPO_ROOT / "rewards" / "verl.py"
TREE = "ppo_trainer"  # <stage>/ppo_trainer.yaml: the composed tree verl's main reads
TRACKER = "latest_checkpointed_iteration.txt"  # in the checkpoint folder: the last saved step


class VerlGRPO(GPUGRPO):
    """DE stages with verl in its own environment, merged to Hugging Face format after."""

    stage_code = ("converters.stages", "rewards.verl")  # the code behind the stage's data and reward
    check_module = "launch.engines.verl_check"
    reward_metric = "critic/score/mean"  # verl's per-step mean of the reward function's score

    def paths(self, stage: StagePlan) -> dict[str, Path]:
        return {"checkpoints": stage.stage_dir / "checkpoints", "tree": stage.stage_dir / f"{TREE}.yaml",
                "train": stage.data_dir / "train.jsonl", "val": stage.data_dir / "val.jsonl",
                "log": stage.stage_dir / "metrics.jsonl", "earlier_logs": stage.stage_dir / "metrics.earlier.jsonl"}

    def render(self, stage: StagePlan) -> dict[str, Any]:
        """ProUIE's settings of one DE stage in verl's key space (see the module docstring)."""
        conf, gpus = self.common_settings(stage)
        arr = conf.setdefault("actor_rollout_ref", {})
        model, rollout = arr.setdefault("model", {}), arr.setdefault("rollout", {})
        model["path"] = stage.input_model
        rollout["n"] = int(stage.rollout_n)
        rollout["tensor_model_parallel_size"] = max(1, min(int(rollout.get("tensor_model_parallel_size", 1)),
                                                           gpus or 1))
        conf.setdefault("reward", {})["custom_reward_function"] = {
            "path": str(REWARD_FILE), "name": "compute_score", "+reward_kwargs": dict(stage.reward)}
        conf["trainer"].update(default_local_dir=str(self.paths(stage)["checkpoints"]), resume_mode="auto")
        return conf

    def reward_kwargs(self, conf: Mapping[str, Any]) -> dict[str, Any]:
        return conf["reward"]["custom_reward_function"]["+reward_kwargs"]

    def validate(self, stage: StagePlan) -> list[str]:
        """verl's own config (Hydra composition + validate_config) and reward checks; notes say what was not
        checked."""
        if int(stage.config["trainer"].get("save_freq", -1)) <= 0:
            raise StageFailed(stage.name, stage.config_path,
                              "verl saves no checkpoint with trainer.save_freq <= 0, so there would be nothing to "
                              "merge; set it > 0 in grpo.config")
        return validate_in_engine(stage, self.check_module, stage.config, self.reward_kwargs(stage.config))

    def check_row(self, row: dict[str, Any]) -> None:
        """Chat-message ``prompt``, ``data_source`` and a JSON-record ``reward_model.ground_truth``."""
        from rewards.inputs import gold_from_answer

        prompt = row["prompt"]
        if not (isinstance(prompt, list) and prompt and all(isinstance(m, dict) and {"role", "content"} <= set(m)
                                                            for m in prompt)):
            raise ValueError("'prompt' must be chat messages [{'role': ..., 'content': ...}] for verl "
                             "(grpo.data.prompt_format: messages)")
        if not isinstance(row.get("data_source"), str):
            raise ValueError("'data_source' (a string) is missing")
        gold_from_answer(row["reward_model"]["ground_truth"])

    def row_prompt(self, row: dict[str, Any]) -> str:
        return row["prompt"][0]["content"]

    def train_args(self, stage: StagePlan) -> list[str]:
        return ["-m", "verl.trainer.main_ppo", f"--config-path={stage.stage_dir}", f"--config-name={TREE}"]

    def train_env(self, stage: StagePlan) -> dict[str, str]:
        return {"VERL_FILE_LOGGER_PATH": str(self.paths(stage)["log"])}

    def start_settings(self, stage: StagePlan, chat_template: str) -> dict[str, Any]:
        """The settings with the chat template of the input model's tokenizer (known only now); the check also
        writes verl's composed tree, which the job reads."""
        return with_chat_template(stage, chat_template)

    def data_check_args(self, stage: StagePlan) -> tuple[str, ...]:
        return ("--data", "--write", str(self.paths(stage)["tree"]))

    def _last_step(self, stage: StagePlan) -> int | None:
        tracker = self.paths(stage)["checkpoints"] / TRACKER
        return int(tracker.read_text(encoding="utf-8").strip()) if tracker.is_file() else None

    def resume_point(self, stage: StagePlan) -> Path | None:
        """The last checkpoint (``resume_mode: auto`` resumes from it)."""
        step = self._last_step(stage)
        return self.paths(stage)["checkpoints"] / f"global_step_{step}" if step else None

    def last_actor_dir(self, stage: StagePlan) -> Path:
        step = self._last_step(stage)
        if step is None:
            raise StageFailed(stage.name, self.paths(stage)["checkpoints"],
                              f"verl finished without a checkpoint ({TRACKER}); see stage.log")
        return self.paths(stage)["checkpoints"] / f"global_step_{step}" / "actor"

    def merge_command(self, stage: StagePlan, actor: Path) -> tuple[list[str], Path]:
        """verl's model merger writes ``checkpoints/merged``."""
        merged = self.paths(stage)["checkpoints"] / "merged"
        return ["-m", "verl.model_merger", "merge", "--backend", "fsdp", "--local_dir", str(actor),
                "--target_dir", str(merged)], merged


def with_chat_template(stage: StagePlan, template: str) -> dict[str, Any]:
    """The stage's settings with the chat template verl must wrap prompts in (SFT's bytes)."""
    return merge_config(copy.deepcopy(stage.config),
                        {"actor_rollout_ref": {"model": {"custom_chat_template": template}}})
