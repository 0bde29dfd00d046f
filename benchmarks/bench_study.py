"""What a study costs against the main run alone, measured on the CPU real-model experiment (issue #15 targets).

    python benchmarks/bench_study.py                         # mini, Table 5 and Table 7 studies, from scratch
    python benchmarks/bench_study.py --experiment smoke      # the same on the tiny model (minutes)

Each study runs from scratch into its own folder; all numbers come from the stage timings of that run (one
machine, one invocation). For a study:

- main = the seconds of every stage of its full-pipeline variant (``full`` in Table 5, ``sfr`` in Table 7): what
  the main run alone costs;
- study = the seconds of the stages the study actually ran (shared stages cost nothing);
- naive = the seconds of every stage of every variant, as if each ablation were run separately.

Targets: Table 5 study <= 1.8 x main (naive about 3.5 x), Table 7 study <= 2.0 x main.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUDIES = {"table5": ("full", 1.8), "table7": ("sfr", 2.0)}


def measure(study_root: Path, main_variant: str) -> dict[str, float]:
    seconds = {"main": 0.0, "study": 0.0, "naive": 0.0}
    for summary_path in sorted(study_root.glob("*/summary.json")):
        rows = json.loads(summary_path.read_text(encoding="utf-8"))["stages"]
        for row in rows:
            seconds["naive"] += row.get("seconds", 0.0)
            if row.get("status") == "ran":
                seconds["study"] += row.get("seconds", 0.0)
            if summary_path.parent.name == main_variant:
                seconds["main"] += row.get("seconds", 0.0)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="mini")
    parser.add_argument("--out", default=str(REPO / "runs" / "bench_study"))
    parser.add_argument("--studies", nargs="+", default=list(STUDIES))
    args = parser.parse_args()
    out = Path(args.out)
    lines = []
    for name in args.studies:
        root = out / f"{args.experiment}-{name}"
        shutil.rmtree(root, ignore_errors=True)
        start = time.monotonic()
        subprocess.run([sys.executable, "launch/run_pipeline.py", f"+experiment={args.experiment}", f"+study={name}",
                        f"pipeline.run_dir={root}"], cwd=REPO, check=True)
        wall = time.monotonic() - start
        main_variant, target = STUDIES[name]
        s = measure(root, main_variant)
        ratio, naive = s["study"] / s["main"], s["naive"] / s["main"]
        lines.append(f"{name}: main {s['main']:.0f} s, study {s['study']:.0f} s ({ratio:.2f}x main, target <= "
                     f"{target}x: {'PASS' if ratio <= target else 'FAIL'}), naive {s['naive']:.0f} s ({naive:.2f}x); "
                     f"wall {wall:.0f} s")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
