"""The README's main command, measured and published: the mini experiment, its wall time per stage, its results.

    python benchmarks/mini_run.py                      # run (or resume) runs/mini, then publish into docs/mini/
    python benchmarks/mini_run.py --publish-only       # publish an existing runs/mini again
    python benchmarks/mini_run.py --publish-only --run-dir runs/mine --out /tmp/mine --against docs/mini
                                                       # a run of yours, paired with the published one

Publishing writes ``docs/mini/``: the progression table and plot (``eval.progression``), and ``RUN.md`` with the
exact command, the recipe hashes of the evaluated models, the machine (with whether its CPU trains in bf16), and
the wall time of every stage of the invocation that ran them; and ``reports/``, the eval reports, so that a run on
another machine can be paired with this one record by record (``--against``). Targets of issue #14 (measured
here, not asserted in tests): the whole run takes at most 20 minutes on a 2-core machine from a warm cache (the
model already converted), and the final model's strict F1 is above 0, and above the base model's zero-shot score,
for NER, RE, EE trigger and EE argument.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.publish import machine, run_time  # noqa: E402
from eval import progression  # noqa: E402
from eval.report import difference_cell, score_cell  # noqa: E402

COMMAND = ["launch/run_pipeline.py", "+experiment=mini"]
METRICS = [m for m, _ in progression.METRICS]


REPORTS = "reports"  # the published copies of the eval reports, one per evaluated model
TIME_TARGET = 20 * 60  # seconds, the whole command from a warm cache on 2 cores


def targets(data: dict, seconds: float, what: str) -> list[str]:
    """The issue's targets, checked on the progression and the run's time: one line each, PASS or FAIL, each score
    with its 95 % interval and, where the base model was evaluated, the paired difference to it."""
    final = next(r for r in data["rows"] if r["final"])
    base = next((r for r in data["rows"] if r["model"] == "base"), None)
    lines = []
    for metric in METRICS:
        score = final["scores"]["strict"][metric]
        cell = score_cell(score, (final.get("intervals") or {}).get("strict", {}).get(metric))
        ours = score or 0.0
        if base is None or base is final:
            lines.append(f"- {metric}: final {cell} -> {'PASS' if ours > 0 else 'FAIL'}")
            continue
        zero = base["scores"]["strict"][metric] or 0.0
        diff = difference_cell(final["vs_first"]["strict"][metric])
        lines.append(f"- {metric}: final {cell} vs base {100 * zero:.2f} ({diff}) -> "
                     f"{'PASS' if 0 < ours and zero < ours else 'FAIL'}")
    lines.append(f"- time: {seconds:.0f} s ({what}) vs at most {TIME_TARGET} s -> "
                 f"{'PASS' if seconds <= TIME_TARGET else 'FAIL'}")
    return lines


def against(out: Path, other: Path) -> list[str]:
    """RUN.md's section: each model of this publication minus the same model of another one (``other``, a published
    folder with its ``reports/``, e.g. a run on another machine), paired on the test records the two share."""
    ours, theirs = (sorted((d / REPORTS).glob("*.json")) for d in (out, other))
    shared = [p.name for p in ours if p.name in {q.name for q in theirs}]
    where = os.path.relpath(other, REPO)
    if not shared:
        return [f"## Against `{where}`", "", f"Not paired: `{where}/{REPORTS}/` holds no report of the same models.",
                ""]
    pairs = []
    for name in shared:
        rows = progression.progression([(f"{Path(name).stem} ({where})", other / REPORTS / name, False),
                                        (Path(name).stem, out / REPORTS / name, False)], full_run=False)["rows"]
        pairs.append((rows[1]["model"], rows[1]["vs_previous"]))
    return [f"## Against `{where}`", "",
            f"Each model here minus the same model of `{where}`, in F1 points with the 95 % paired bootstrap interval "
            "over the test records both scored (`*`: the interval excludes 0). The intervals are over test records "
            "only: a difference outside them is a different trained model (another machine, precision or seed), not "
            "a different draw of records.", "", *progression.difference_lines(pairs), ""]


def publish(run_dir: Path, out: Path, wall: float | None, other: Path | None = None) -> Path:
    data = progression.from_summary(run_dir)
    hashes = {r["model"]: json.loads(Path(r["report"]).read_text(encoding="utf-8"))["recipe_hash"]
              for r in data["rows"]}
    # the reports travel with the publication (another run can be paired with them); the published progression
    # names those copies, relative to the repository, not this machine's run folder
    (out / REPORTS).mkdir(parents=True, exist_ok=True)
    rows = []
    for r in data["rows"]:
        copy = out / REPORTS / f"{r['model']}.json"
        shutil.copyfile(r["report"], copy)
        rows.append({**r, "report": os.path.relpath(copy, REPO)})
    progression.write({**data, "rows": rows}, out)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    lines = ["# The mini experiment, as published", "",
             f"Command: `python {' '.join(COMMAND)}` (from a warm cache: SmolLM2 already converted)", "",
             f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}. Machine: `{json.dumps(machine())}`", "",
             "Recipe hashes of the evaluated models (the stage fingerprints in their eval reports): "
             + ", ".join(f"{k} `{v}`" for k, v in hashes.items()), "",
             "## Wall time of the invocation that ran the stages", ""]
    table, seconds, what = run_time(summary, wall)
    final = os.path.relpath(out / REPORTS / f"{data['rows'][-1]['model']}.json", REPO)
    lines += [*table, "", "## Targets (issue #14)", "", *targets(data, seconds, what), "",
              *(against(out, other) if other else []),
              "To pair a run of yours with this one, on the same test records: `python -m eval.progression --report "
              f"published={final} --report mine=runs/mini/eval/output/report.json --out /tmp/mini-vs-published`.", "",
              "The table and plot: [progression.md](progression.md), [progression.png](progression.png). What the "
              "published run does and does not show: [NOTES.md](NOTES.md) (written by hand, not regenerated)."]
    (out / "RUN.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "RUN.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "mini"))
    parser.add_argument("--out", default=str(REPO / "docs" / "mini"))
    parser.add_argument("--publish-only", action="store_true")
    parser.add_argument("--against", help="a published folder (e.g. docs/mini) to pair this run's models with")
    args = parser.parse_args()
    wall = None
    if not args.publish_only:
        start = time.monotonic()
        subprocess.run([sys.executable, *COMMAND, f"pipeline.run_dir={args.run_dir}"], cwd=REPO, check=True)
        wall = time.monotonic() - start
    other = Path(args.against).resolve() if args.against else None
    print(publish(Path(args.run_dir), Path(args.out), wall, other).read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
