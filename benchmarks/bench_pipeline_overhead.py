"""How much of a pipeline run is spent outside the backends (planning, validation, data builds, merges).

    python benchmarks/bench_pipeline_overhead.py                 # fresh smoke run in a temp folder, then report
    python benchmarks/bench_pipeline_overhead.py --run-dir DIR   # report on a finished run (its summary.json)

Backend time is the time the stage commands ran (llamafactory-cli, the TRL runner, eval), as the driver
measured it around each command; everything else of the run's wall time is driver-side. Target: < 15 %.
With --run-dir the wall time is the driver's own total (process start-up and Hydra composition excluded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.15


def report(summary: dict, wall: float) -> float:
    rows = summary["stages"]
    backend = sum(r.get("backend_seconds", 0.0) for r in rows if r.get("status") == "ran")
    overhead = wall - backend
    print(f"{'stage':<10} {'total s':>8} {'backend s':>10} {'data s':>7} {'finish s':>9}")
    for r in rows:
        print(f"{r['stage']:<10} {r.get('seconds', 0):8.1f} {r.get('backend_seconds', 0):10.1f} "
              f"{r.get('data_seconds', 0):7.1f} {r.get('finish_seconds', 0):9.1f}  {r.get('status', '')}")
    print(f"validation before the first stage: {summary.get('validate_seconds', 0):.1f} s")
    ratio = overhead / wall if wall else 0.0
    print(f"wall {wall:.1f} s = backends {backend:.1f} s + driver-side {overhead:.1f} s")
    print(f"driver-side share: {ratio:.1%} (target < {TARGET:.0%}) -> {'OK' if ratio < TARGET else 'OVER'}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, help="a finished run to read instead of running the smoke recipe")
    args = parser.parse_args()
    if args.run_dir:
        summary = json.loads((args.run_dir / "summary.json").read_text())
        report(summary, summary["total_seconds"])
        return 0
    with tempfile.TemporaryDirectory(prefix="prouie-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        start = time.monotonic()
        result = subprocess.run([sys.executable, "launch/run_pipeline.py", "+experiment=smoke",
                                 f"pipeline.run_dir={run_dir}"], cwd=REPO)
        wall = time.monotonic() - start
        if result.returncode != 0:
            print(f"the smoke run failed (exit {result.returncode})", file=sys.stderr)
            return result.returncode
        report(json.loads((run_dir / "summary.json").read_text()), wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
