"""The contract between the driver and what it drives: a stage's plan, its jobs, its backend, its executor.

A leaf module (it imports nothing of the launcher), so the planner, the driver, the backends and the executors all
depend on it and not on each other:

- ``PipelineSettings``: the recipe's ``pipeline`` group, typed (``pipeline_settings``), as every part reads it;
- ``StagePlan``: one stage of a run as the planner resolved it (paths, config, fingerprint, run-wide settings);
- ``StageJob``: one command of a stage and the resources it needs; ``StageFailed``: why a stage stopped;
- ``Backend``: what an engine (LLaMA-Factory SFT, TRL / EasyR1 / verl GRPO, eval) does for a stage. Engines
  subclass it and override what they need; the defaults say what a stage without that step does;
- ``Executor``: where a job runs (a local subprocess, a Ray job).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Protocol

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

OnLine = Callable[[str], None]
OUTPUT = "output"  # a stage folder's model (or report) folder: the next stage's input, what DONE's sha256 covers


@dataclass
class EvalSettings:
    """``pipeline.eval``: which models the run evaluates, on what, how much of it."""

    enabled: bool = True
    benchmark: str = MISSING                   # a benchmark of recipes/benchmark/catalog.yaml
    models: list[str] = field(default_factory=lambda: ["final"])  # base, a stage's name, final
    max_new_tokens: Optional[int] = None       # None: eval's default (recipes/eval/default.yaml)
    limit: Optional[int] = None                # test records per dataset (None: all)
    limits: Optional[dict[str, int]] = None    # per dataset, over ``limit``
    overrides: list[str] = field(default_factory=list)    # key=value entries of recipes/eval/default.yaml


@dataclass
class PipelineSettings:
    """``pipeline``: the run's folder, its stages, and how it runs them (recipes/config.yaml says what each does)."""

    run_dir: Optional[str] = None
    order: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    dry_run: bool = False
    keep_checkpoints: bool = False
    reuse: list[str] = field(default_factory=list)
    threads: Any = "auto"                      # "auto" or a positive integer (launch.plan.resolve_threads)
    eval: EvalSettings = field(default_factory=EvalSettings)


def pipeline_settings(cfg: Mapping[str, Any]) -> PipelineSettings:
    """A recipe's ``pipeline`` as a typed object (the schema's defaults for keys the recipe leaves out); a key
    ``PipelineSettings`` does not have, or a value of the wrong type, is an error naming its path."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(PipelineSettings), cfg["pipeline"]))
    except (ConfigKeyError, ValidationError) as err:
        raise ValueError(f"pipeline.{err.full_key}: {err.msg.splitlines()[0]}; the pipeline settings are "
                         f"launch.stage.PipelineSettings (recipes/config.yaml)") from None


@dataclass
class StagePlan:
    """One stage of a run; paths are absolute. ``config`` is what the backend reads from ``config_path``."""

    name: str
    kind: str                      # sft | grpo | eval
    engine: str                    # llamafactory | trl | easyr1 | verl | eval
    stage_dir: Path
    input_model: str
    input_stage: str | None
    samples: int
    epochs: float | None = None
    rollout_n: int | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] | None = None    # keyword arguments of the converters.stages builder
    config: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    missing_sources: list[str] = field(default_factory=list)
    # Run-wide settings, resolved once by the planner and handed to every stage (DESIGN §7: one fact, one place).
    profile: str = "default"               # output-format profile of data, rewards and eval
    template: str = "qwen3_nothink"        # chat template of SFT, GRPO rollouts and eval
    threads: int = 1                       # compute threads of the stage's process (torch, OpenMP, BLAS)
    reward: dict[str, Any] | None = None   # GRPO: the whole SFR config (the reward group + profile)
    python: str = ""                       # the stage's interpreter (launch.engines.environment.stage_python)

    @property
    def config_path(self) -> Path:
        return self.stage_dir / "config.yaml"

    @property
    def data_dir(self) -> Path:
        return self.stage_dir / "data"

    @property
    def output_dir(self) -> Path:
        return self.stage_dir / OUTPUT

    @property
    def log_path(self) -> Path:
        return self.stage_dir / "stage.log"


@dataclass(frozen=True)
class StageJob:
    """One stage's command and the resources it needs; the executor appends its output to ``log_path``."""

    stage: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_path: str
    num_gpus: int = 0
    num_cpus: int = 1
    nnodes: int = 1
    multinode: str = "torchrun"


class StageFailed(RuntimeError):
    """A stage could not finish; the message names the stage, the file to look at and what to do."""

    def __init__(self, stage: str, path: str | Path | None, hint: str) -> None:
        self.stage, self.path, self.hint = stage, str(path) if path else None, hint
        where = f" (see {path})" if path else ""
        super().__init__(f"stage {stage!r} failed{where}: {hint}")


RunJob = Callable[[StageJob], None]  # runs one extra job of a stage (e.g. a merge) and raises on failure


class Backend(Protocol):
    """An engine's side of a stage. The driver calls, in order: ``render`` (planning; the config the engine reads),
    ``validate`` (before anything runs; the engine's own checks, returns notes on what was not checked),
    ``check_data`` (after the data build), ``prepare`` (before an attempt; returns the checkpoint it resumes from),
    ``jobs`` (the commands), ``finish`` (after them: convert or merge), ``has_output`` and ``results`` (for DONE).
    ``stage_code`` names the project modules whose code decides the stage's result (fingerprinted)."""

    stage_code: ClassVar[tuple[str, ...]]

    def render(self, stage: StagePlan, cfg: dict[str, Any]) -> dict[str, Any]: ...

    def jobs(self, stage: StagePlan, cfg: dict[str, Any]) -> list[StageJob]: ...

    def validate(self, stage: StagePlan) -> list[str]:
        """Nothing to check beyond what planning did."""
        return []

    def check_data(self, stage: StagePlan) -> None:
        """The builder's manifest is the whole check."""

    def prepare(self, stage: StagePlan, cfg: dict[str, Any]) -> Path | None:
        """Nothing to resume from."""
        return None

    def finish(self, stage: StagePlan, cfg: dict[str, Any], run_job: RunJob) -> None:
        """The jobs leave the output as it is (a Hugging Face model folder)."""

    def has_output(self, stage: StagePlan) -> bool:
        """A Hugging Face model folder in the stage's output."""
        from launch.engines.hf_output import has_model

        return has_model(stage.output_dir)

    def results(self, stage: StagePlan) -> dict[str, Any]:
        """No numbers of its own for DONE."""
        return {}


class Executor(Protocol):
    name: str

    def run(self, job: StageJob, on_line: OnLine | None = None) -> int: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...
