"""The environment a stage command runs in: which Python, and the variables it runs with.

Variables (``backend_env``): offline, quiet, this virtualenv first on PATH, fixed threads. Subprocesses must find
``llamafactory-cli`` and ``torchrun`` of the interpreter that runs the driver (LLaMA-Factory calls ``torchrun`` by
bare name), never reach the Hugging Face hub, and import this repository's packages. Their compute threads are
set explicitly: torch sizes its intra-op pool from ``OMP_NUM_THREADS``, and without it a local subprocess uses
every core while Ray gives its jobs one thread, so the same recipe would train to other floats depending on the
executor.

Interpreters (``stage_python``): LLaMA-Factory, TRL and eval run in the driver's own environment
(``sys.executable``). The GRPO engines run in their own environments (``scripts/setup_engine.sh``; EasyR1 and verl
both install a module named ``verl`` and need other transformers versions), found through the recipe key
``grpo.python``: a path, relative ones taken from the repository root, by default ``.engines/<engine>/bin/python``.
The driver's interpreter never runs an engine job, and never imports an engine: it runs
``python -m launch.engines.<engine>_check`` there instead (``run_check``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launch.stage import ClusterSettings, GRPOSettings, StageFailed

REPO_ROOT = Path(__file__).resolve().parents[2]


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """The usual thread-count variables of OpenMP, MKL, OpenBLAS, numexpr and Accelerate, all set to ``threads``."""
    return dict.fromkeys(THREAD_VARIABLES, str(int(threads)))


def backend_env(threads: int, python: str = sys.executable) -> dict[str, str]:
    """Variables added on top of the executor's environment for every stage command (``threads``: the planner's
    ``StagePlan.threads``; ``python``: the stage's interpreter, an engine's own environment for GRPO engines, whose
    ``bin`` folder comes first on PATH)."""
    venv_bin = str(Path(python).parent)
    path = os.environ.get("PATH", "")
    pythonpath = os.environ.get("PYTHONPATH", "")
    return {
        "PATH": venv_bin + (os.pathsep + path if path else ""),
        "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + pythonpath if pythonpath else ""),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "WANDB_DISABLED": "true",
        "DISABLE_VERSION_CHECK": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
        **thread_env(threads),
    }


def cluster_shape(cluster: Mapping[str, Any]) -> tuple[int, int]:
    """``(nnodes, gpus_per_node)`` of a cluster profile as a mapping (the executors'); unset or null means one node
    without GPUs."""
    return int(cluster.get("nnodes") or 1), int(cluster.get("gpus_per_node") or 0)


def torchrun_env(cluster: ClusterSettings) -> dict[str, str]:
    """LLaMA-Factory's torchrun variables when a stage spans several GPUs or nodes, else nothing.

    NODE_RANK and MASTER_ADDR are this node's; a multi-node executor replaces them per node.
    """
    nnodes, gpus = cluster.nnodes, cluster.gpus_per_node
    if nnodes <= 1 and gpus <= 1:
        return {}
    return {"FORCE_TORCHRUN": "1", "NNODES": str(nnodes), "NODE_RANK": "0", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(cluster.master_port), "NPROC_PER_NODE": str(max(gpus, 1))}


ENGINE_ENVS = ("easyr1", "verl")  # engines with an environment of their own
CHECK_TIMEOUT_S = 900


def engine_python(engine: str, grpo: GRPOSettings) -> Path:
    """The interpreter of an engine's environment (``grpo.python``; relative to the repository root)."""
    python = Path(grpo.python or f".engines/{engine}/bin/python").expanduser()
    return python if python.is_absolute() else REPO_ROOT / python


def stage_python(engine: str, grpo: GRPOSettings) -> Path:
    """The interpreter a stage of ``engine`` runs with: the engine's environment (``grpo.python``), or the driver's
    own."""
    return engine_python(engine, grpo) if engine in ENGINE_ENVS else Path(sys.executable)


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
