"""What a study costs against the main run alone, measured on the CPU real-model experiment (issue #15 targets).

    python benchmarks/bench_study.py                         # mini, Table 5 and Table 7 studies, from scratch
    python benchmarks/bench_study.py --experiment smoke      # the same on the tiny model (minutes)
    python benchmarks/bench_study.py --publish docs/studies  # then publish the reports and the ratios there
    python benchmarks/bench_study.py --publish-only          # publish finished studies again (no wall times)

Each study runs from scratch into its own folder; all numbers come from the stage timings of that run (one
machine, one invocation). For a study:

- main = the seconds of every stage of its full-pipeline variant (``full`` in Table 5, ``sfr`` in Table 7): what
  the main run alone costs;
- study = the seconds of the stages the study actually ran (shared stages cost nothing);
- naive = the seconds of every stage of every variant, as if each ablation were run separately.

Targets: Table 5 study <= 1.8 x main (naive about 3.5 x), Table 7 study <= 2.0 x main. Publishing copies each
study's report (``study.md`` and its PNGs) into ``<publish>/<experiment>-<study>/`` and writes ``BENCH.md`` there
with the command, the machine and the ratios.
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
sys.path.insert(0, str(REPO / "benchmarks"))

from mini_run import machine  # noqa: E402  (the same machine description as the published mini run)

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


def result_line(name: str, root: Path, wall: float | None) -> str:
    """One study's ratios against its main variant, PASS or FAIL against the issue's target."""
    main_variant, target = STUDIES[name]
    s = measure(root, main_variant)
    ratio, naive = s["study"] / s["main"], s["naive"] / s["main"]
    return (f"{name}: main {s['main']:.0f} s, study {s['study']:.0f} s ({ratio:.2f}x main, target <= {target}x: "
            f"{'PASS' if ratio <= target else 'FAIL'}), naive {s['naive']:.0f} s ({naive:.2f}x)"
            + (f"; wall {wall:.0f} s" if wall is not None else ""))


def publish(roots: dict[str, Path], lines: list[str], experiment: str, dest: Path) -> Path:
    """Copy each study's report and plots under ``dest`` and write ``BENCH.md`` (command, machine, ratios)."""
    for name, root in roots.items():
        target = dest / f"{experiment}-{name}"
        target.mkdir(parents=True, exist_ok=True)
        for report in [root / "study.md", *sorted(root.glob("*.png"))]:
            shutil.copy2(report, target / report.name)
    studies = " ".join(roots)
    text = [f"# What the studies cost against the main run ({experiment})", "",
            f"Command: `python benchmarks/bench_study.py --experiment {experiment} --studies {studies}`  ",
            f"Machine: `{json.dumps(machine())}`", "",
            "Seconds are the stage timings of each study run from scratch (benchmarks/bench_study.py says how they "
            "are summed); the reports: " + ", ".join(f"[{n}]({experiment}-{n}/study.md)" for n in roots) + ".", "",
            *[f"- {line}" for line in lines], ""]
    bench = dest / "BENCH.md"
    bench.write_text("\n".join(text), encoding="utf-8")
    return bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="mini")
    parser.add_argument("--out", default=str(REPO / "runs" / "bench_study"))
    parser.add_argument("--studies", nargs="+", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--publish", default=None, help="folder to copy the reports and ratios into")
    parser.add_argument("--publish-only", action="store_true", help="measure and publish finished studies")
    args = parser.parse_args()
    roots = {name: Path(args.out) / f"{args.experiment}-{name}" for name in args.studies}
    lines = []
    for name, root in roots.items():
        wall = None
        if not args.publish_only:
            shutil.rmtree(root, ignore_errors=True)
            start = time.monotonic()
            subprocess.run([sys.executable, "launch/run_pipeline.py", f"+experiment={args.experiment}",
                            f"+study={name}", f"pipeline.run_dir={root}"], cwd=REPO, check=True)
            wall = time.monotonic() - start
        lines.append(result_line(name, root, wall))
    print("\n".join(lines))
    if args.publish or args.publish_only:
        print(publish(roots, lines, args.experiment, Path(args.publish or REPO / "docs" / "studies")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
