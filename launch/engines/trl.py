"""GRPO stages with TRL's GRPOTrainer, on one machine (CPU included): the smoke recipe's DE engine.

Planner side (``render`` ... ``results``): the stage config is one YAML with the model, the GRPO dataset, the
chat template, the reward config (the ``reward`` recipe group, as rewards/trl.py kwargs) and the GRPOConfig
arguments. Runner side: ``python -m launch.engines.trl <stage>/config.yaml`` trains and saves a Hugging Face
model into the stage's output folder.

Prompts: the dataset's ``prompt`` column is the SFT instruction; the runner wraps it with
``converters.chat.chat_prompt`` (LLaMA-Factory's template, as text) and hands TRL a *plain string*, which TRL does
not template again (it only templates conversational prompts), so rollouts see byte-for-byte the model input of SFT
and eval.
Rewards: ``rewards.trl.sfr_reward_funcs`` (the SFR reward, plus its sub-scores logged with weight 0), scored
against the ``answer`` column. Batches: TRL needs the generation batch divisible by ``num_generations``
(= the stage's ``rollout_n``); ``render`` rounds the per-device batch up to a multiple of it.
Curves: the reward function records each completion's reward (``launch.engines.grpo_records``); after the run,
``finish`` writes the per-step curves from the trainer log and the per-prompt trend (``launch.engines.grpo_curves``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from launch.engines import grpo_curves, grpo_records, hf_output
from launch.engines.environment import REPO_ROOT, backend_env
from launch.stage import Backend, RunJob, StageFailed, StageJob, StagePlan


class TRLGRPO(Backend):
    """DE stages with TRL's GRPOTrainer on one machine (CPU included)."""

    stage_code = ("converters.stages", "rewards.trl")  # the code behind the stage's data and reward

    def render(self, stage: StagePlan) -> dict[str, Any]:
        """The runner's config for one GRPO stage."""
        args = {**stage.settings.grpo.args, **(stage.spec.get("args") or {})}
        n = int(stage.rollout_n)
        batch = int(args.get("per_device_train_batch_size", 8))
        args.update(
            num_generations=n,
            per_device_train_batch_size=math.ceil(batch / n) * n,
            num_train_epochs=float(stage.epochs),
            output_dir=str(stage.output_dir),
            seed=stage.settings.seed,
        )
        if not stage.settings.cluster.gpus_per_node:
            args.setdefault("use_cpu", True)
        return {
            "model_name_or_path": stage.input_model,
            "train_file": str(stage.data_dir / "train.jsonl"),
            "template": stage.template,
            "reward": dict(stage.reward),
            "records": str(stage.stage_dir / grpo_records.RECORDS_NAME),
            "trainer": args,
        }

    def validate(self, stage: StagePlan) -> list[str]:
        """Cheap checks TRL would only make at start-up (its GRPOConfig is built by the runner)."""
        trainer = stage.config["trainer"]
        generation = trainer["per_device_train_batch_size"] * trainer.get("gradient_accumulation_steps", 1)
        if generation % trainer["num_generations"]:
            raise StageFailed(stage.name, stage.config_path,
                              f"generation batch {generation} is not divisible by num_generations "
                              f"{trainer['num_generations']}; fix grpo.args.per_device_train_batch_size")
        if trainer["num_generations"] < 2:
            raise StageFailed(stage.name, stage.config_path, "GRPO needs rollout_n >= 2; fix stages.<name>.rollout_n")
        return []

    def jobs(self, stage: StagePlan) -> list[StageJob]:
        return [StageJob(stage=stage.name, argv=[sys.executable, "-m", "launch.engines.trl", str(stage.config_path)],
                         env=backend_env(stage.threads), cwd=str(REPO_ROOT), log_path=str(stage.log_path),
                         num_gpus=min(stage.settings.cluster.gpus_per_node, 1))]

    def prepare(self, stage: StagePlan) -> Path | None:
        return hf_output.prepare_resume(stage.output_dir)

    def finish(self, stage: StagePlan, run_job: RunJob) -> None:
        """The stage's per-step curves from the trainer log and its per-prompt trend from the reward records:
        ``curves.json`` and ``curves.png`` in the stage folder."""
        grpo_curves.write(stage.name, grpo_curves.curve_rows(hf_output.trainer_log(stage.output_dir)), stage.stage_dir,
                          _prompt_trend(stage))

    def results(self, stage: StagePlan) -> dict[str, Any]:
        """Headline rewards, the reward trend over the stage's steps, and where its curves are."""
        log = hf_output.trainer_log(stage.output_dir)
        return {"mean_reward": hf_output.mean_value(log, "reward"), "final_reward": hf_output.last_value(log, "reward"),
                "final_loss": hf_output.last_value(log, "loss"), "steps": hf_output.last_value(log, "step"),
                "reward_trend": grpo_curves.reward_trend(grpo_curves.curve_rows(log)),
                "prompt_trend": _prompt_trend(stage),
                "curves": grpo_curves.paths(stage.stage_dir)}


def _prompt_trend(stage: StagePlan) -> dict[str, Any] | None:
    return grpo_records.prompt_trend(grpo_records.read(stage.stage_dir / grpo_records.RECORDS_NAME))


# ------------------------------------------------------------------------------------------------ runner


def fix_trl_optional_flags() -> list[str]:
    """Repair TRL 0.24's optional-package flags under transformers 5 (returns the names fixed).

    TRL 0.24 builds ``_mergekit_available = _is_package_available("mergekit")`` with transformers' helper, which
    in transformers 5 returns a ``(found, version)`` tuple; a tuple is always truthy, so ``import GRPOTrainer``
    tries to import mergekit, llm_blender, ... and fails. Each such flag is replaced by its boolean.
    """
    import trl.import_utils as flags

    fixed = []
    for name, value in vars(flags).items():
        if name.startswith("_") and name.endswith("_available") and isinstance(value, tuple):
            setattr(flags, name, bool(value[0]))
            fixed.append(name)
    return fixed


def train(config: dict[str, Any]) -> None:
    """Run GRPO as configured; resumes from the last checkpoint in the output folder when there is one."""
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    fix_trl_optional_flags()
    from trl import GRPOConfig, GRPOTrainer

    from converters.chat import chat_prompt
    from rewards.trl import sfr_reward_funcs, sfr_reward_weights

    torch.use_deterministic_algorithms(True, warn_only=True)
    template = config["template"]
    tokenizer = AutoTokenizer.from_pretrained(config["model_name_or_path"])
    model = AutoModelForCausalLM.from_pretrained(config["model_name_or_path"], dtype=torch.float32)
    if not hasattr(model, "warnings_issued"):  # TRL 0.24 writes to this dict, which transformers 5 removed
        model.warnings_issued = {}
    dataset = load_dataset("json", data_files=config["train_file"], split="train")
    dataset = dataset.map(lambda row: {"prompt": chat_prompt(row["prompt"], template, tokenizer)})
    funcs = sfr_reward_funcs(**config["reward"])
    args = GRPOConfig(**config["trainer"], reward_weights=sfr_reward_weights(funcs))
    output_dir = Path(args.output_dir)
    resume = hf_output.checkpoints(output_dir)
    if config.get("records"):  # each completion's reward, for the per-prompt trend (launch.engines.grpo_records)
        grpo_records.start(Path(config["records"]), int(resume[-1].name.split("-")[-1]) if resume else None)
        funcs[0] = grpo_records.RecordedReward(funcs[0], Path(config["records"]))
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset,
                          processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=str(resume[-1]) if resume else None)
    trainer.save_model(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    trainer.save_state()


def main(argv: list[str] | None = None) -> None:
    import yaml

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m launch.engines.trl <stage config.yaml>")
    train(yaml.safe_load(Path(argv[0]).read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
