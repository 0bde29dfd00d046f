"""What the published runs (``mini_run.py``, ``repro_small.py``, ``data_scaling.py``) write the same way: the
machine, stage times and a study's report."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


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


def rel(path: str | Path) -> str:
    """A path as the published files name it: relative to the repository."""
    return os.path.relpath(path, REPO)


def study_variants(study_dir: Path) -> dict[str, Path]:
    """The variant run folders of a finished study, in the study's order."""
    data = json.loads((study_dir / "study.json").read_text(encoding="utf-8"))
    return {name: Path(v["run_dir"]) for name, v in data["variants"].items()}


def copy_study(study_dir: Path, out: Path) -> None:
    """The study's report into ``out``, its run folders named relative to the repository."""
    out.mkdir(parents=True, exist_ok=True)
    data = json.loads((study_dir / "study.json").read_text(encoding="utf-8"))
    for v in data["variants"].values():
        v["run_dir"] = rel(v["run_dir"])
    (out / "study.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    for path in [study_dir / "study.md", *sorted(study_dir.glob("*.png"))]:
        shutil.copyfile(path, out / path.name)


def run_and_publish(argv: Sequence[str] | None, description: str, out: Path, walls_name: str,
                    commands: Callable[[Path, argparse.Namespace], Mapping[str, list[str]]],
                    publish: Callable[[Path, Path, Mapping[str, float] | None], Path],
                    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None) -> int:
    """The command line of a published run: run each pipeline command (timed; the walls kept in ``--runs`` for
    ``--publish-only``), then publish into ``--out`` and print what was written. ``commands`` may call
    ``parser.error`` through ``args.error`` for a missing argument."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", default=str(REPO / "runs"), help="where the study folders go")
    parser.add_argument("--out", default=str(out))
    parser.add_argument("--publish-only", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.error = parser.error
    runs = Path(args.runs).resolve()
    walls_file = runs / walls_name
    if not args.publish_only:
        walls = {}
        for name, command in commands(runs, args).items():
            start = time.monotonic()
            subprocess.run([sys.executable, *command], cwd=REPO, check=True)
            walls[name] = time.monotonic() - start
        walls_file.write_text(json.dumps(walls) + "\n", encoding="utf-8")
    walls = json.loads(walls_file.read_text(encoding="utf-8")) if walls_file.is_file() else None
    print(publish(runs, Path(args.out), walls).read_text(encoding="utf-8"))
    return 0
