"""The stage planner: a composed recipe becomes a list of :class:`StagePlan`, one per stage to run.

A stage is: a data build (converters.stages), a rendered backend config, the command(s) that run it, and an
expected output (a Hugging Face model folder), with the previous kept stage's output as its input model.
Planning is pure and cheap (no data is read, nothing is written), so ``pipeline.dry_run`` and the tests use it
directly; ``launch.driver`` executes the plan.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from launch.code_stamp import code_stamp
from launch.engines.environment import REPO_ROOT, stage_python
from launch.run_dir import files_stamp, fingerprint, read_json
from launch.stage import DATA, OUTPUT, Backend, RecipeSettings, StageFailed, StagePlan, recipe_settings, typed

EVAL_STAGE = "eval"


@dataclass(frozen=True)
class SFTStageSpec:
    """The keys of a recipe's SFT stage (``stages.<name>`` with ``kind: sft``) and what they hold."""

    kind: str
    mixture: dict[str, int]        # exact example counts per task group of data.sources
    epochs: float
    style: str = "cm"              # cm (complete targets) | sa (streamlined)
    args: dict[str, Any] = field(default_factory=dict)  # the backend's own settings


@dataclass(frozen=True)
class GRPOStageSpec:
    """The keys of a recipe's GRPO stage (``kind: grpo``) and what they hold."""

    kind: str
    task: str
    count: int                     # prompts
    epochs: float
    rollout_n: int                 # generations per prompt
    style: str | None = None       # default: the prompt style the model was last trained on
    args: dict[str, Any] = field(default_factory=dict)


STAGE_SPECS: dict[str, type] = {"sft": SFTStageSpec, "grpo": GRPOStageSpec}
TRAIN_KINDS = tuple(STAGE_SPECS)


def schema_keys(schema: type) -> list[str]:
    """The keys a recipe mapping described by the dataclass ``schema`` may have, sorted."""
    return sorted(f.name for f in fields(schema))


def check_keys(value: Mapping[str, Any], schema: type, where: str, what: str, hint: str = "") -> None:
    """Refuse the keys of ``value`` that ``schema`` does not have, naming the mapping's path and the known keys."""
    unknown = sorted(set(value) - set(schema_keys(schema)))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; {what} has {schema_keys(schema)}{hint}")


def check_stage(name: str, spec: Any) -> None:
    """A stage entry (``stages.<name>``) against the spec of its kind: the kind, the keys, their types; an error
    names the key's path (``stages.cm_ner.epochs: Value 'two' of type 'str' could not be converted to Float``)."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"stages.{name}: a stage is a mapping (kind: sft | grpo, ...), got {spec!r}")
    kind = spec.get("kind")
    if kind not in TRAIN_KINDS:
        raise ValueError(f"stages.{name}.kind must be one of {TRAIN_KINDS}, got {kind!r}")
    schema = STAGE_SPECS[kind]
    check_keys(spec, schema, f"stages.{name}", f"a {kind} stage", f" (backend settings go under stages.{name}.args)")
    typed(schema, spec, f"stages.{name}.", lambda key: f"; a {kind} stage is launch.plan.{schema.__name__}")


def check_stages(cfg: Mapping[str, Any]) -> None:
    """Every entry of the recipe's ``stages`` (``check_stage``), planned or not: when the recipe is composed."""
    for name, spec in (cfg.get("stages") or {}).items():
        check_stage(name, spec)


@dataclass
class Plan:
    run_dir: Path
    stages: list[StagePlan]
    cfg: dict[str, Any]
    settings: RecipeSettings     # cfg, typed: what the driver and (through each stage) the backends read


BACKENDS = {"llamafactory": "launch.engines.llamafactory:LlamaFactorySFT", "trl": "launch.engines.trl:TRLGRPO",
            "easyr1": "launch.engines.easyr1:EasyR1GRPO", "verl": "launch.engines.verl:VerlGRPO",
            "eval": "launch.engines.evaluation:Evaluation"}


@functools.cache
def backend(engine: str) -> Backend:
    """The backend of an engine (its module imported on first use: only what a plan uses)."""
    import importlib

    if engine not in BACKENDS:
        raise ValueError(f"unknown engine {engine!r}; expected one of {sorted(BACKENDS)}")
    module, name = BACKENDS[engine].split(":")
    return getattr(importlib.import_module(module), name)()


def resolve_model(name_or_path: str) -> str:
    """``tiny`` (the embedded random smoke model, built in seconds) and ``smollm2`` (SmolLM2-135M-Instruct from its
    PyPI wheel, converted once) are made into the cache on first use; anything else is a local path."""
    if name_or_path == "tiny":
        from launch.models.tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    if name_or_path == "smollm2":
        from launch.models.smollm2 import ensure_smollm2

        return str(ensure_smollm2())
    return str(Path(name_or_path).expanduser().resolve())


def input_style(settings: RecipeSettings, model: str) -> str:
    """The prompt style the run's input model was last trained on, so that a DE stage and an evaluation of it ask
    the way it answers: ``model.prompt_style`` when set; else the style in the stage record beside a stage's output
    folder of one of our runs (``model.name_or_path=runs/x/sa/output``: ``runs/x/sa/data/manifest.json``); else cm,
    a base model's."""
    from converters.format.profiles import STYLES
    from converters.stages import MANIFEST

    if settings.model.prompt_style:
        return settings.model.prompt_style
    path = Path(model)
    record = path.parent / DATA / MANIFEST
    if path.name != OUTPUT or not record.is_file():
        return "cm"
    manifest = read_json(record)
    style = manifest.get("style") if manifest else None
    if style not in STYLES:
        found = f"'style' {style!r}" if manifest else "not readable as a JSON object"
        raise ValueError(f"{record}: {found}, expected one of {STYLES}; set model.prompt_style to the style "
                         f"{model} was trained on")
    return style


def ablation_tag(settings: RecipeSettings, reward: Mapping[str, Any] | None = None) -> str:
    """Suffix of the default run folder for ablations (skipped stages, a reward variant other than the full SFR),
    so they never overwrite the full run."""
    parts = []
    if settings.pipeline.skip:
        parts.append("skip-" + "-".join(settings.pipeline.skip))
    variant = (reward or {}).get("variant", "sfr")
    if variant != "sfr":
        parts.append(f"reward-{variant}")
    return "+" + "+".join(parts) if parts else ""


def resolve_run_dir(settings: RecipeSettings, reward: Mapping[str, Any] | None = None) -> Path:
    """``pipeline.run_dir``, or ``runs/<experiment_name><ablation tag>`` under the working directory."""
    run_dir = settings.pipeline.run_dir or f"runs/{settings.experiment_name}{ablation_tag(settings, reward)}"
    return Path(run_dir).expanduser().resolve()


def expand_sources(sources: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Task group -> list of source specs; ``{..., datasets: [a, b]}`` becomes one spec per dataset."""
    expanded = {}
    for task, group in sources.items():
        if isinstance(group, Mapping) and "datasets" in group:
            base = {k: v for k, v in group.items() if k != "datasets"}
            expanded[task] = [{**base, "dataset": name} for name in group["datasets"]]
        else:
            expanded[task] = [dict(spec) for spec in group]
    return expanded


def resolve_threads(value: Any) -> int:
    """``pipeline.threads``: ``auto`` = the CPUs this driver may use (``taskset`` and cgroup-pinned sets count),
    or a positive integer. Every stage gets the same number on every executor (Ray would otherwise give its jobs
    one OpenMP thread and a local subprocess all cores, and float reductions, hence losses, would differ)."""
    if value in (None, "auto"):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"pipeline.threads must be 'auto' or a positive integer, got {value!r}")
    return value


def reward_config(group: Mapping[str, Any], profile: str) -> dict[str, Any]:
    """The SFR config every DE stage scores with: the recipe's ``reward`` group and the run's ``format_profile``,
    checked here (by rewards.config, the group's own parser) so a bad key fails at planning time, naming it."""
    from rewards.config import sfr_config

    reward = {**dict(group), "profile": profile}
    sfr_config(reward, where="recipe 'reward' group + format_profile")
    return reward


def _source_stamp(stage: StagePlan) -> list[Any]:
    """File stamps of the stage's source datasets; unreadable sources are listed in ``missing_sources``."""
    from converters.readers import source_files
    from converters.stages import resolve_spec

    stamp = []
    for task, specs in stage.data["sources"].items():
        for spec in specs:
            try:
                stamp.append([task, files_stamp(source_files(resolve_spec(spec)))])
            except (FileNotFoundError, KeyError, ValueError) as err:
                stage.missing_sources.append(f"{task}: {spec}: {err}")
    return stamp


def _check_names(known: list[str], settings: RecipeSettings) -> None:
    for key in ("order", "skip"):
        named = getattr(settings.pipeline, key)
        unknown = [s for s in named if s not in known and not (key == "skip" and s == EVAL_STAGE)]
        if unknown:
            raise ValueError(f"pipeline.{key} names unknown stage(s) {unknown}; stages are {known} "
                             f"(and '{EVAL_STAGE}' for skip)")


def _data_request(name: str, spec: Mapping[str, Any], settings: RecipeSettings, profile: str,
                  sources: dict[str, list[dict[str, Any]]], previous_style: str) -> dict[str, Any]:
    """What a stage's data builder is asked for. A GRPO stage without its own ``style`` prompts the way the model
    was last trained (SA prompts after SA; CM prompts in the w/o-SA ablation), so rollouts see a known prompt."""
    common = {"profile": profile, "seed": settings.seed}
    if spec["kind"] == "sft":
        tasks = list(spec["mixture"])
        return {"builder": "sft", "name": name, "mixture": {t: int(n) for t, n in spec["mixture"].items()},
                "style": spec.get("style", "cm"), "sources": {t: sources.get(t, []) for t in tasks}, **common}
    task = spec["task"]
    return {"builder": "grpo", "name": name, "task": task, "count": int(spec["count"]),
            "style": spec.get("style", previous_style), "sources": {task: sources.get(task, [])}, **common,
            **settings.grpo.data}  # the engine's data layout (grpo/verl.yaml: chat-message prompts)


def _upstream(previous: StagePlan | None, model: str) -> tuple[str, str | None, Any]:
    """A stage's input model, input stage and the fingerprint part that ties it to what came before it."""
    if previous is None:
        return model, None, {"model": model, "files": files_stamp([Path(model)])}
    return str(previous.output_dir), previous.name, previous.fingerprint


def build_plan(cfg: Mapping[str, Any]) -> Plan:
    """The stages of a composed recipe (a plain dict, interpolations resolved), in order, fingerprinted."""
    from converters.chat import template_of
    from converters.format import get_profile

    settings = recipe_settings(cfg)
    _check_names(list(cfg["stages"]), settings)
    run_dir = resolve_run_dir(settings, cfg.get("reward"))
    sources = expand_sources(cfg["data"]["sources"])
    skip = set(settings.pipeline.skip)
    model = resolve_model(settings.model.name_or_path)
    start_style = input_style(settings, model)
    template_of(settings.model.template)  # an unknown template is a config error, before anything else
    run = {"profile": get_profile(settings.format_profile).name, "template": settings.model.template,
           "threads": resolve_threads(settings.pipeline.threads), "settings": settings}
    reward = (reward_config(cfg["reward"], settings.format_profile)
              if any(cfg["stages"][n].get("kind") == "grpo" for n in settings.pipeline.order if n not in skip)
              else None)
    templates = {"sft": settings.sft, "grpo": settings.grpo}  # the stage template of each kind
    # per plan: stages share entry modules, and edits between plans count
    stamp = functools.cache(lambda entries: code_stamp(entries, REPO_ROOT))
    previous: StagePlan | None = None
    stages: list[StagePlan] = []
    for name in settings.pipeline.order:
        if name in skip:
            continue
        check_stage(name, cfg["stages"][name])
        spec = dict(cfg["stages"][name])
        kind = spec["kind"]
        engine_name = templates[kind].engine
        data = _data_request(name, spec, settings, run["profile"], sources,
                             previous.data["style"] if previous else start_style)
        samples = sum(data["mixture"].values()) if kind == "sft" else data["count"]
        input_model, input_stage, upstream = _upstream(previous, model)
        stage = StagePlan(
            name=name, kind=kind, engine=engine_name, stage_dir=run_dir / name, input_model=input_model,
            input_stage=input_stage, samples=samples, epochs=spec.get("epochs"), rollout_n=spec.get("rollout_n"),
            spec=spec, data=data, reward=reward if kind == "grpo" else None,
            python=str(stage_python(engine_name, settings.grpo)), **run,
        )
        engine = backend(stage.engine)
        stage.config = engine.render(stage)
        stage.fingerprint = fingerprint({"config": stage.config, "data": data, "sources": _source_stamp(stage),
                                         "code": stamp(engine.stage_code), "input": upstream}, run_dir,
                                        stage.stage_dir)
        stages.append(stage)
        previous = stage
    if settings.pipeline.eval.enabled and EVAL_STAGE not in skip:
        trained = {s.name: s for s in stages}
        last = stages[-1] if stages else None
        for name, evaluated, source in eval_targets(settings, list(cfg["stages"]), stages):
            evaluated_stage = last if source == "final" else trained.get(source)  # None: the base model
            # a model is asked the way it was last trained; the base model as the final one is
            style = (evaluated_stage or last).data["style"] if (evaluated_stage or last) else start_style
            input_model, input_stage, upstream = _upstream(evaluated_stage, model)
            stage = StagePlan(name=name, kind="eval", engine="eval", stage_dir=run_dir / name,
                              input_model=input_model, input_stage=input_stage, samples=0,
                              spec={"style": style, "evaluates": evaluated},
                              python=str(stage_python("eval", settings.grpo)), **run)
            evaluation = backend("eval")
            stage.config = evaluation.render(stage)
            stage.fingerprint = fingerprint({"config": stage.config, "code": stamp(evaluation.stage_code),
                                             "benchmarks": files_stamp([REPO_ROOT / "recipes" / "benchmark"]),
                                             "input": upstream}, run_dir, stage.stage_dir)
            stages.append(stage)
    return Plan(run_dir=run_dir, stages=stages, cfg=dict(cfg), settings=settings)


def eval_targets(settings: RecipeSettings, known: list[str], trained: list[StagePlan]) -> list[tuple[str, str, str]]:
    """``(eval stage name, label of the evaluated model, source)`` for ``pipeline.eval.models``: ``base`` (the
    base model, zero-shot), a training stage's name (its checkpoint) and ``final`` (the last kept stage's model,
    evaluated by the stage ``eval``). Source is ``base``, a stage name or ``final``. A listed stage that the run
    skips is left out; one that is the final stage is evaluated once, as ``final``. ``known``: the recipe's
    stages."""
    wanted = list(settings.pipeline.eval.models or ["final"])
    unknown = [m for m in wanted if m not in {"base", "final", *known}]
    if unknown:
        raise ValueError(f"pipeline.eval.models names {unknown}; choose from base, final and the stages {known}")
    names = [s.name for s in trained]
    final = names[-1] if names else "base"
    targets = [(f"{EVAL_STAGE}_{m}", m, m) for m in wanted if m == "base" and final != "base"]
    targets += [(f"{EVAL_STAGE}_{n}", n, n) for n in names if n in wanted and n != final]
    if "final" in wanted or final in wanted:
        targets.append((EVAL_STAGE, final, "final"))
    return targets


def missing_data_error(stage: StagePlan) -> StageFailed:
    """The error for a stage whose source datasets cannot be read: which files, and how to fix it."""
    return StageFailed(stage.name, None,
                       f"source data missing: {'; '.join(stage.missing_sources)}. Fix: point data.root (or the "
                       f"IE_INSTRUCTIONS environment variable) at your download, or remove the dataset from "
                       f"data.sources")
