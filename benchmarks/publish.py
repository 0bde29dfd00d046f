"""What the published runs (``mini_run.py``, ``repro_small.py``) write the same way: the machine and stage times."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any


def machine() -> dict[str, object]:
    """The machine a published run ran on (its numbers are this machine's: bf16 autocast depends on the CPU)."""
    import torch

    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)), "torch": torch.__version__,
            "processor": platform.processor() or platform.machine()}


def stage_time_rows(summary: Mapping[str, Any]) -> tuple[list[str], float]:
    """Markdown rows ``| stage | status | seconds |`` of a run's ``summary.json`` and the sum of its stages."""
    rows = [f"| {r['stage']} | {r.get('status', '')} | {r.get('seconds', 0):.0f} |" for r in summary["stages"]]
    return rows, sum(r.get("seconds", 0) for r in summary["stages"])
