"""The final stage: evaluate the last model on the recipe's benchmark with the eval package's report.

Runs ``python eval/run_benchmark.py benchmark=<name> model=<last stage output> out_dir=<run>/eval/output`` (plus
the recipe's ``pipeline.eval.overrides``) as a command like every other stage, so it also runs on a cluster.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from launch.backend_env import REPO_ROOT, backend_env, cluster_shape
from launch.executor import StageJob
from launch.plan import StagePlan

REPORT = "report.json"


def render(stage: StagePlan, cfg: dict[str, Any]) -> dict[str, Any]:
    """eval/run_benchmark.py settings: the model's template, prompt style and format profile, as trained."""
    settings = cfg["pipeline"]["eval"]
    config = {"benchmark": settings["benchmark"], "model": stage.input_model, "out_dir": str(stage.output_dir),
              "template": cfg["model"]["template"], "style": stage.spec.get("style", "sa"),
              "profile": cfg["format_profile"]}
    for key in ("max_new_tokens", "limit"):
        if settings.get(key) is not None:
            config[key] = settings[key]
    return {**config, "overrides": list(settings.get("overrides") or [])}


def validate(stage: StagePlan) -> list[str]:
    return []


def check_data(stage: StagePlan) -> None:
    """The benchmark reads its own test sets."""


def argv(stage: StagePlan) -> list[str]:
    """The eval command; the stage fingerprint goes into the report as ``recipe_hash``."""
    settings = {k: v for k, v in stage.config.items() if k != "overrides"}
    return [sys.executable, str(REPO_ROOT / "eval" / "run_benchmark.py"),
            *(f"{key}={value}" for key, value in settings.items()), f"recipe_hash={stage.fingerprint[:16]}",
            *stage.config["overrides"]]


def jobs(stage: StagePlan, cfg: dict[str, Any]) -> list[StageJob]:
    return [StageJob(stage=stage.name, argv=argv(stage), env=backend_env(), cwd=str(REPO_ROOT),
                     log_path=str(stage.log_path), num_gpus=min(cluster_shape(cfg["cluster"])[1], 1))]


def prepare(stage: StagePlan, cfg: dict[str, Any]) -> Path | None:
    return None


def finish(stage: StagePlan, cfg: dict[str, Any], run_job) -> None:
    """The report is the output; nothing to convert."""


def has_output(stage: StagePlan) -> bool:
    return (stage.output_dir / REPORT).is_file()


def results(stage: StagePlan) -> dict[str, Any]:
    path = stage.output_dir / REPORT
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {"report": str(path), "averages": report.get("averages")}
