"""Which Python environment runs a stage, and how the driver runs its checks inside an engine's environment.

LLaMA-Factory, TRL and eval run in the driver's own environment (``sys.executable``). The GRPO engines run in
their own environments (``scripts/setup_engine.sh``; EasyR1 and verl both install a module named ``verl`` and
need other transformers versions), found through the recipe key ``grpo.python``: a path, relative ones taken
from the repository root, by default ``.engines/<engine>/bin/python``. The driver's interpreter never runs an
engine job, and never imports an engine: it runs ``python -m launch.<engine>_check`` there instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launch.backend_env import REPO_ROOT, backend_env
from launch.stage import StageFailed

ENGINE_ENVS = ("easyr1", "verl")  # engines with an environment of their own
CHECK_TIMEOUT_S = 900


def engine_python(engine: str, grpo: Mapping[str, Any]) -> Path:
    """The interpreter of an engine's environment (``grpo.python``; relative to the repository root)."""
    python = Path(str(grpo.get("python") or f".engines/{engine}/bin/python")).expanduser()
    return python if python.is_absolute() else REPO_ROOT / python


def stage_python(engine: str, cfg: Mapping[str, Any]) -> Path:
    """The interpreter a stage of ``engine`` runs with: the engine's environment, or the driver's own."""
    return engine_python(engine, cfg["grpo"]) if engine in ENGINE_ENVS else Path(sys.executable)


def missing_env_hint(engine: str, python: Path) -> str:
    return (f"the {engine} environment is missing ({python} does not exist): create it with "
            f"`make engine ENGINE={engine}` (scripts/setup_engine.sh {engine}), or point grpo.python at its "
            f"interpreter")


def run_check(stage: str, python: Path, module: str, args: list[str], threads: int,
              log_path: Path | None = None) -> dict[str, Any]:
    """Run ``python -m <module> <args>`` in an engine environment (with the stage's ``threads``); returns the JSON
    report on its last line.

    A report with problems, or a check that dies, raises :class:`StageFailed` naming the stage and the output.
    """
    env = {**os.environ, **backend_env(threads, str(python))}
    try:
        proc = subprocess.run([str(python), "-m", module, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise StageFailed(stage, log_path, f"the engine's own check ({module}) did not finish in {CHECK_TIMEOUT_S} s"
                          ) from err
    output = proc.stdout + proc.stderr
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"$ {python} -m {module} {' '.join(args)}\n{output}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else None
    if report is None or proc.returncode != 0:
        found = "; ".join(report["problems"]) if report else output.strip()[-3000:]
        raise StageFailed(stage, log_path, f"the engine's own check ({module}) failed: {found}")
    return report
