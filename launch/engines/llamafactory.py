"""SFT stages with LLaMA-Factory 0.9.5: render the flat train YAML, validate it, run `llamafactory-cli train`.

The rendered file is the stage template's ``sft.args`` updated by the stage's own ``args``, plus the keys the
planner owns (model, template, data, output, epochs, seed, device). Validation uses LLaMA-Factory's own
``get_train_args`` (unknown keys and inconsistent combinations), plus the check it leaves out: the dataset name
(``get_dataset_list`` on the built ``dataset_info``). The template name is checked by the planner, once per run.

What validation cannot see on a CPU-only machine is said where it happens (and printed by the dry run):
``deepspeed`` is removed before ``get_train_args`` (it would need the deepspeed package and a torchrun launch)
and checked as a readable JSON file instead; on a machine without a GPU, ``bf16``/``fp16`` are replaced by
``use_cpu`` for the check (transformers refuses them on CPU); ``output_dir`` is swapped for an empty temporary
folder, because the real one is managed by the driver (resume or clean) and would otherwise make validation
depend on leftovers.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from converters.chat import is_reasoning
from launch.engines import hf_output
from launch.engines.environment import REPO_ROOT, backend_env, torchrun_env
from launch.stage import Backend, StageFailed, StageJob, StagePlan

DEEPSPEED_DIR = REPO_ROOT / "recipes" / "deepspeed"


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the INFO/WARNING lines get_train_args prints for every config (they belong to training runs)."""
    import logging

    import transformers

    before = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    lf_root = logging.getLogger("llamafactory")
    level = lf_root.level
    lf_root.setLevel("ERROR")
    try:
        yield
    finally:
        transformers.logging.set_verbosity(before)
        lf_root.setLevel(level)


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


class LlamaFactorySFT(Backend):
    """SFT stages (CM, SA) with LLaMA-Factory: its YAML, its own checks, ``llamafactory-cli train``."""

    stage_code = ("converters.stages",)  # the code behind the stage's data

    def render(self, stage: StagePlan) -> dict[str, Any]:
        """The flat LLaMA-Factory config of one SFT stage."""
        sft = stage.settings.sft
        args = {**sft.args, **(stage.spec.get("args") or {})}
        template = stage.template
        args.update(
            model_name_or_path=stage.input_model,
            template=template,
            dataset=stage.name,
            dataset_dir=str(stage.data_dir),
            output_dir=str(stage.output_dir),
            overwrite_output_dir=False,  # with checkpoint-* present LLaMA-Factory auto-resumes an interrupted stage
            num_train_epochs=float(stage.epochs),
            seed=stage.settings.seed,
        )
        if is_reasoning(template):  # ProUIE runs without thinking: the prompt ends with an empty thought
            args["enable_thinking"] = False
        if sft.deepspeed:
            args["deepspeed"] = str(DEEPSPEED_DIR / sft.deepspeed)
        if not stage.settings.cluster.gpus_per_node:
            args.setdefault("use_cpu", True)
        return args

    def validate(self, stage: StagePlan) -> list[str]:
        """Check the rendered config with LLaMA-Factory itself; returns notes on what was not checked."""
        from llamafactory.hparams import get_train_args

        notes = []
        args = dict(stage.config)
        deepspeed = args.pop("deepspeed", None)
        if deepspeed:
            try:
                json.loads(Path(deepspeed).read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise StageFailed(stage.name, deepspeed,
                                  f"unreadable DeepSpeed config ({err}); fix sft.deepspeed") from err
            notes.append("deepspeed: file checked as JSON, not by get_train_args (needs the package and torchrun)")
        gpu_only = [k for k in ("bf16", "fp16", "pure_bf16") if args.get(k)]
        if gpu_only and not args.get("use_cpu") and not _has_gpu():
            for key in gpu_only:
                args.pop(key)
            args["use_cpu"] = True
            notes.append(f"{', '.join(gpu_only)}: removed for this check "
                         "(no GPU here; transformers refuses them on CPU)")
        with tempfile.TemporaryDirectory(prefix="prouie-validate-") as tmp, _quiet():
            args["output_dir"] = tmp
            try:
                get_train_args(args)
            except (ValueError, AssertionError, TypeError) as err:
                raise StageFailed(stage.name, stage.config_path,
                                  f"LLaMA-Factory rejects the config: {err}. Fix the key in sft.args or "
                                  f"stages.{stage.name}.args of the recipe") from err
        return notes

    def check_data(self, stage: StagePlan) -> None:
        """The dataset name resolves in the built dataset_info.json (get_train_args does not look)."""
        from llamafactory.data.parser import get_dataset_list

        try:
            get_dataset_list([stage.config["dataset"]], stage.config["dataset_dir"])
        except (ValueError, OSError) as err:
            raise StageFailed(stage.name, stage.data_dir / "dataset_info.json",
                              f"LLaMA-Factory cannot find dataset {stage.config['dataset']!r}: {err}; delete the "
                              f"stage's data/ folder and rerun to rebuild it") from err

    def jobs(self, stage: StagePlan) -> list[StageJob]:
        cluster = stage.settings.cluster
        return [StageJob(
            stage=stage.name, argv=["llamafactory-cli", "train", str(stage.config_path)],
            env={**backend_env(stage.threads), **torchrun_env(cluster)}, cwd=str(REPO_ROOT),
            log_path=str(stage.log_path), num_gpus=cluster.gpus_per_node, nnodes=cluster.nnodes,
            multinode="torchrun",
        )]

    def prepare(self, stage: StagePlan) -> Path | None:
        """Before an attempt: resume from the last complete checkpoint, or start from an empty output folder."""
        return hf_output.prepare_resume(stage.output_dir)

    def results(self, stage: StagePlan) -> dict[str, Any]:
        log = hf_output.trainer_log(stage.output_dir)
        return {"final_loss": hf_output.last_value(log, "loss"), "train_loss": hf_output.last_value(log, "train_loss"),
                "steps": hf_output.last_value(log, "step")}
