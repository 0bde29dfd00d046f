"""The contract between the driver and what it drives: a stage's plan, its jobs, its backend, its executor.

A leaf module (it imports nothing of the launcher), so the planner, the driver, the backends and the executors all
depend on it and not on each other:

- ``RecipeSettings``: the recipe's settings the launcher reads (``pipeline``, ``cluster``, ``sft``, ``grpo``,
  ``model``, ``estimate`` and the run-wide scalars), typed (``recipe_settings``; ``typed`` for any dataclass
  schema): checked when the recipe is composed, read by field everywhere after;
- ``StagePlan``: one stage of a run as the planner resolved it (paths, config, fingerprint, run-wide settings,
  the recipe's settings: all a backend reads);
- ``StageJob``: one command of a stage and the resources it needs; ``StageFailed``: why a stage stopped;
- ``Backend``: what an engine (LLaMA-Factory SFT, TRL / EasyR1 / verl GRPO, eval) does for a stage. Engines
  subclass it and override what they need; the defaults say what a stage without that step does;
- ``Executor``: where a job runs (a local subprocess, a Ray job).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional, Protocol, TypeVar, get_type_hints

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError

from converters.format.profiles import STYLES

OnLine = Callable[[str], None]
OUTPUT = "output"  # a stage folder's model (or report) folder: the next stage's input, what DONE's sha256 covers
DATA = "data"      # a stage folder's dataset and its manifest (converters.stages)


def _at_least(path: str, value: int | None, low: int, high: int | None = None) -> None:
    """A range check of a typed setting (None: not set), as an error naming its path."""
    if value is not None and (value < low or (high is not None and value > high)):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{path}: must be {bound}, got {value!r}")


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

    def __post_init__(self) -> None:
        _at_least("pipeline.eval.limit", self.limit, 1)
        for dataset, limit in (self.limits or {}).items():
            _at_least(f"pipeline.eval.limits.{dataset}", limit, 1)


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


@dataclass
class ClusterSettings:
    """``cluster``: where the stages run (recipes/cluster/ local, ray, ray_local, which say what each key does)."""

    kind: str = "local"                        # local | ray | ray_local (launch.executors.local.make_executor)
    address: Optional[str] = None              # ray: "auto" or the dashboard URL
    auth_token_file: Optional[str] = None      # ray: a file holding the cluster's token
    nnodes: int = 1
    gpus_per_node: int = 0                     # 0 = CPU
    cpus_per_node: Optional[int] = None
    shared_dir: Optional[str] = None           # required when nnodes > 1
    retries: int = 0
    poll_interval_s: float = 2.0
    master_port: int = 29500
    runtime_env: dict[str, Any] = field(default_factory=dict)   # Ray's own runtime_env keys
    gpu_type: Optional[str] = None             # for dry-run GPU-hour estimates (a key of estimate.throughput)

    def __post_init__(self) -> None:
        _at_least("cluster.nnodes", self.nnodes, 1)
        _at_least("cluster.gpus_per_node", self.gpus_per_node, 0)
        _at_least("cluster.cpus_per_node", self.cpus_per_node, 1)
        _at_least("cluster.retries", self.retries, 0)
        _at_least("cluster.master_port", self.master_port, 1, 65535)
        if not self.poll_interval_s > 0:
            raise ValueError(f"cluster.poll_interval_s: must be positive, got {self.poll_interval_s!r}")


@dataclass
class SFTSettings:
    """``sft``: the stage template of every SFT stage (recipes/sft/)."""

    engine: str = "llamafactory"
    deepspeed: Optional[str] = None            # a file under recipes/deepspeed/
    args: dict[str, Any] = field(default_factory=dict)          # LLaMA-Factory's keys, checked by LLaMA-Factory


@dataclass
class GRPOSettings:
    """``grpo``: the stage template of every GRPO (DE) stage (recipes/grpo/); the dicts are the engine's own keys,
    checked by the engine."""

    engine: str = "trl"                        # trl | easyr1 | verl
    python: Optional[str] = None               # the engine environment's interpreter (None: .engines/<engine>)
    merger: Optional[str] = None               # EasyR1's model_merger.py (None: the environment's copy)
    val_rows: int = 64                         # EasyR1 and verl: validation prompts
    data: dict[str, Any] = field(default_factory=dict)          # the data builder's layout (converters.stages)
    args: dict[str, Any] = field(default_factory=dict)          # TRL: GRPOConfig keys
    config: dict[str, Any] = field(default_factory=dict)        # EasyR1 / verl: their nested config


@dataclass
class ModelSettings:
    """``model``: the base model and its chat template (recipes/model/)."""

    name_or_path: str = MISSING                # tiny | smollm2 | a local folder
    template: str = MISSING                    # LLaMA-Factory's template name (converters.chat)
    prompt_style: Optional[str] = None         # cm | sa: how the model was last trained (None: launch.plan.input_style)

    def __post_init__(self) -> None:
        if self.prompt_style not in (None, *STYLES):
            raise ValueError(f"model.prompt_style: must be one of {STYLES} or null, got {self.prompt_style!r}")


@dataclass
class EstimateSettings:
    """``estimate``: the dry run's GPU-hour model (launch.estimate; recipes/config.yaml gives the numbers)."""

    sft_tokens_per_example: int = 350
    grpo_prompt_tokens: int = 250
    grpo_response_tokens: int = 120
    throughput: dict[str, dict[str, Any]] = field(default_factory=dict)  # GPU type -> tokens/s: sft, gen, rl


@dataclass
class RecipeSettings:
    """The recipe's settings the launcher reads, typed: the run-wide scalars and the groups above. The other groups
    are read by their own parsers (``reward``: rewards.config; ``data``: converters), ``stages`` by
    ``launch.plan`` (its stage specs)."""

    experiment_name: str = "default"
    seed: int = 42
    format_profile: str = "default"            # converters.format profiles
    model: ModelSettings = field(default_factory=ModelSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    sft: SFTSettings = field(default_factory=SFTSettings)
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    estimate: EstimateSettings = field(default_factory=EstimateSettings)


T = TypeVar("T")


def typed(schema: type[T], value: Mapping[str, Any], where: str = "",
          about: Callable[[str], str] = lambda key: "") -> T:
    """``value`` as a ``schema`` dataclass (its defaults for keys ``value`` leaves out). A key ``schema`` does not
    have, a value of the wrong type or a required one missing is a ``ValueError`` naming its path (``where`` + the
    key's), followed by ``about(first key of that path)``. Values are taken as they are: a string holding ``${``
    is not an interpolation (a composed recipe is resolved already), so the engines' dicts reach them unchanged."""
    try:
        checked = OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(schema), value), resolve=False,
                                         throw_on_missing=True)
    except (ConfigKeyError, ValidationError, MissingMandatoryValue) as err:
        path = err.full_key or _failing_key(schema, value)
        raise ValueError(f"{where}{path}: {err.msg.splitlines()[0]}{about(path.split('.')[0])}") from None
    return _instance(schema, checked)


def _instance(schema: type[T], values: dict[str, Any]) -> T:
    """The dataclass ``schema`` of checked ``values``, its dataclass-typed fields made from their mappings."""
    hints = get_type_hints(schema)
    return schema(**{key: _instance(hints[key], item) if is_dataclass(hints[key]) else item
                     for key, item in values.items()})


def _failing_key(schema: type, value: Mapping[str, Any]) -> str:
    """The path of the key in ``value`` that ``schema`` refuses, for an error OmegaConf raises without one (a
    mapping's place given something else)."""
    for key, item in value.items():
        try:
            OmegaConf.merge(OmegaConf.structured(schema), {key: item})
        except (ConfigKeyError, ValidationError):
            inner = get_type_hints(schema).get(key)
            if is_dataclass(inner) and isinstance(item, Mapping):
                return f"{key}.{_failing_key(inner, item)}"
            return str(key)
    return ""


SETTINGS_SOURCES = {"model": "recipes/model/", "cluster": "recipes/cluster/", "sft": "recipes/sft/",
                    "grpo": "recipes/grpo/"}


def _about_settings(key: str) -> str:
    """Where the settings of a key of ``RecipeSettings`` are described, for its errors."""
    schema = get_type_hints(RecipeSettings).get(key)
    if not is_dataclass(schema):
        return "; the run-wide settings are launch.stage.RecipeSettings (recipes/config.yaml)"
    return (f"; the {key} settings are launch.stage.{schema.__name__} "
            f"({SETTINGS_SOURCES.get(key, 'recipes/config.yaml')})")


# The recipe's top-level groups outside ``RecipeSettings``, each read by its own parser.
OTHER_GROUPS = {"reward": "rewards.config", "data": "converters.stages", "stages": "launch.plan's stage specs",
                "study": "launch.study"}


def recipe_settings(cfg: Mapping[str, Any]) -> RecipeSettings:
    """A composed recipe's settings as the launcher reads them, typed (``RecipeSettings``; the ``OTHER_GROUPS``
    are left out); a key outside the schema, at the top level too, or a value of the wrong type is an error naming
    its path, e.g. ``cluster.gpus_per_nod: Key 'gpus_per_nod' not in 'ClusterSettings'``."""
    known = [f.name for f in fields(RecipeSettings)] + list(OTHER_GROUPS)
    unknown = [str(key) for key in cfg if key not in known]
    if unknown:
        others = ", ".join(f"{key} ({parser})" for key, parser in OTHER_GROUPS.items())
        raise ValueError(f"{unknown[0]}: not a key of the recipe; its top-level keys are those of "
                         f"launch.stage.RecipeSettings ({', '.join(known[:-len(OTHER_GROUPS)])}) and {others}")
    return typed(RecipeSettings, {f.name: cfg[f.name] for f in fields(RecipeSettings) if f.name in cfg},
                 about=_about_settings)


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
    settings: RecipeSettings = field(default_factory=RecipeSettings)  # the recipe's, typed: what backends read

    @property
    def config_path(self) -> Path:
        return self.stage_dir / "config.yaml"

    @property
    def data_dir(self) -> Path:
        return self.stage_dir / DATA

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
    ``stage_code`` names the project modules whose code decides the stage's result (fingerprinted). A backend
    reads the recipe through the stage (``stage.settings``, typed), never the raw config."""

    stage_code: ClassVar[tuple[str, ...]]

    def render(self, stage: StagePlan) -> dict[str, Any]: ...

    def jobs(self, stage: StagePlan) -> list[StageJob]: ...

    def validate(self, stage: StagePlan) -> list[str]:
        """Nothing to check beyond what planning did."""
        return []

    def check_data(self, stage: StagePlan) -> None:
        """The builder's manifest is the whole check."""

    def prepare(self, stage: StagePlan) -> Path | None:
        """Nothing to resume from."""
        return None

    def finish(self, stage: StagePlan, run_job: RunJob) -> None:
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
