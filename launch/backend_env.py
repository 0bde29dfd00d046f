"""The environment every backend command runs with: offline, quiet, this virtualenv first on PATH, fixed threads.

Subprocesses must find ``llamafactory-cli`` and ``torchrun`` of the interpreter that runs the driver (LLaMA-Factory
calls ``torchrun`` by bare name), never reach the Hugging Face hub, and import this repository's packages. Their
compute threads are set explicitly: torch sizes its intra-op pool from ``OMP_NUM_THREADS``, and without it a
local subprocess uses every core while Ray gives its jobs one thread, so the same recipe would train to other
floats depending on the executor.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    """``(nnodes, gpus_per_node)`` of a cluster profile; unset or null means one node without GPUs."""
    return int(cluster.get("nnodes") or 1), int(cluster.get("gpus_per_node") or 0)


def torchrun_env(cluster: Mapping[str, Any]) -> dict[str, str]:
    """LLaMA-Factory's torchrun variables when a stage spans several GPUs or nodes, else nothing.

    NODE_RANK and MASTER_ADDR are this node's; a multi-node executor replaces them per node.
    """
    nnodes, gpus = cluster_shape(cluster)
    if nnodes <= 1 and gpus <= 1:
        return {}
    return {"FORCE_TORCHRUN": "1", "NNODES": str(nnodes), "NODE_RANK": "0", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(cluster.get("master_port") or 29500), "NPROC_PER_NODE": str(max(gpus, 1))}
