"""The final stage: evaluate the last model on the recipe's benchmark with the eval package's report.

Like every other stage, eval reads the config file the planner rendered into its stage folder: ``render``
composes ``recipes/eval/default.yaml`` with the pipeline's settings (the model's template, prompt style and
format profile, as trained) and ``pipeline.eval.overrides`` (``key=value`` strings, applied as OmegaConf dot-list
entries, so a value is never parsed by Hydra's override grammar: a run folder such as ``/data/runs (copy)`` or
``/exp/a,b`` is just a path). The job is ``python -m launch.engines.evaluation <stage>/config.yaml <recipe hash>``,
so it also runs on a cluster.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from eval.benchmarks import check_limits
from launch.engines.environment import REPO_ROOT, backend_env
from launch.stage import Backend, StageJob, StagePlan

REPORT = "report.json"
DEFAULTS = REPO_ROOT / "recipes" / "eval" / "default.yaml"


def argv(stage: StagePlan) -> list[str]:
    """The eval command: the stage's config file; the stage fingerprint goes into the report as ``recipe_hash``."""
    return [sys.executable, "-m", "launch.engines.evaluation", str(stage.config_path), stage.fingerprint[:16]]


class Evaluation(Backend):
    """An evaluation of one model on the recipe's benchmark (its output is the report)."""

    stage_code = ("eval.run_benchmark",)  # the code behind the stage's predictions, scores and report

    def render(self, stage: StagePlan) -> dict[str, Any]:
        """The whole eval/run_benchmark.py config of the pipeline's eval stage; unknown override keys are errors."""
        from omegaconf import OmegaConf
        from omegaconf.errors import ConfigKeyError

        settings = stage.settings.pipeline.eval
        defaults = OmegaConf.load(DEFAULTS)
        defaults.pop("hydra", None)
        config = {"benchmark": settings.benchmark, "model": stage.input_model, "out_dir": str(stage.output_dir),
                  "template": stage.template, "style": stage.spec.get("style", "sa"), "profile": stage.profile}
        for key in ("max_new_tokens", "limit", "limits"):
            if getattr(settings, key) is not None:
                config[key] = getattr(settings, key)
        OmegaConf.set_struct(defaults, True)
        OmegaConf.set_struct(defaults.limits, False)  # its keys are the benchmark's datasets
        overrides = list(settings.overrides)
        malformed = [o for o in overrides if "=" not in str(o)]
        if malformed:
            raise ValueError(f"pipeline.eval.overrides: {malformed[0]!r} is not key=value")
        try:
            merged = OmegaConf.merge(defaults, config, OmegaConf.from_dotlist([str(o) for o in overrides]))
        except ConfigKeyError as err:
            raise ValueError(f"pipeline.eval.overrides: {err.msg.splitlines()[0]}; keys are those of "
                             f"recipes/eval/default.yaml") from None
        rendered = OmegaConf.to_container(merged, resolve=True)
        try:
            check_limits(rendered["benchmark"], rendered.get("limits"))
        except ValueError as err:
            raise ValueError(f"pipeline.eval.{err}") from None
        return rendered

    def jobs(self, stage: StagePlan) -> list[StageJob]:
        return [StageJob(stage=stage.name, argv=argv(stage), env=backend_env(stage.threads), cwd=str(REPO_ROOT),
                         log_path=str(stage.log_path), num_gpus=min(stage.settings.cluster.gpus_per_node, 1))]

    def has_output(self, stage: StagePlan) -> bool:
        return (stage.output_dir / REPORT).is_file()

    def results(self, stage: StagePlan) -> dict[str, Any]:
        path = stage.output_dir / REPORT
        report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return {"report": str(path), "averages": report.get("averages"), "evaluates": stage.spec["evaluates"]}


def main(argv_: list[str] | None = None) -> None:
    """Runner: ``python -m launch.engines.evaluation <config.yaml> <recipe hash>``."""
    import yaml

    from eval.run_benchmark import run_benchmark

    args = sys.argv[1:] if argv_ is None else argv_
    if len(args) != 2:
        raise SystemExit("usage: python -m launch.engines.evaluation <stage config.yaml> <recipe hash>")
    config = yaml.safe_load(Path(args[0]).read_text(encoding="utf-8"))
    report = run_benchmark({**config, "recipe_hash": args[1]})
    print(Path(report["files"]["markdown"]).read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
