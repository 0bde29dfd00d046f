"""The pipeline on one GPU, for the short loan of a GPU machine with no network (README, 'On a GPU').

    .venv/bin/python scripts/gpu_check.py --download   # here (make gpu-wheels): the carried wheels -> .gpu-wheels/
    .venv/bin/python scripts/gpu_check.py --plan       # here: wheels and sizes, versions, imports; exit 1 on a problem
    .venv/bin/python scripts/gpu_check.py --rehearse   # here: the run on the CPU with the machine's versions (minutes)
    python3 scripts/gpu_check.py --out DIR             # there, with .gpu-wheels carried: the timed run on CUDA

The plan (``gpu_plan.py``) runs on the CPU machine, with this project's virtualenv, before any device time is
spent. The run (``gpu_run.py``) runs on the GPU machine with its own ``python3``; ``--rehearse``
(``gpu_rehearsal.py``) runs it here on the CPU with the machine's versions and package set, small stages;
``--device cpu --no-install`` runs it with this virtualenv as it is. Overrides after ``--`` go to the pipeline.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--plan", action="store_true", help="check the wheels, versions and imports here")
    mode.add_argument("--download", action="store_true", help="download the carried wheels into .gpu-wheels/")
    mode.add_argument("--rehearse", action="store_true",
                      help="the run here on the CPU, with the machine's versions and packages (gpu_rehearsal.py)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where gpu_check.json and gpu_check.log go (default $OUT, else runs/gpu_check_out)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--limit-s", type=float, default=None, help="the time limit of the run (default 360)")
    parser.add_argument("--no-install", action="store_true",
                        help="use this Python's packages as they are (a rehearsal in the project's virtualenv)")
    parser.add_argument("overrides", nargs="*", help="after --: extra pipeline overrides")
    args = parser.parse_args(argv)
    import gpu_plan

    if args.plan:
        return gpu_plan.plan()
    if args.download:
        return gpu_plan.download() or gpu_plan.plan()
    if args.rehearse:
        import gpu_rehearsal

        return gpu_rehearsal.rehearse()
    import gpu_run

    out = args.out or Path(os.environ.get("OUT") or gpu_plan.REPO_ROOT / "runs" / "gpu_check_out")
    return gpu_run.run_check(out, device=args.device, limit_s=args.limit_s or gpu_run.LIMIT_S,
                             wheels=None if args.no_install else gpu_plan.WHEEL_DIR, extra=args.overrides)


if __name__ == "__main__":
    sys.exit(main())
