"""The README's main command, measured and published: the mini experiment, its wall time per stage, its results.

    python benchmarks/mini_run.py                      # run (or resume) runs/mini, then publish into docs/mini/
    python benchmarks/mini_run.py --publish-only       # publish an existing runs/mini again

Publishing writes ``docs/mini/``: the progression table and plot (``eval.progression``), and ``RUN.md`` with the
exact command, the recipe hashes of the evaluated models, the machine, and the wall time of every stage of the
invocation that ran them. Targets of issue #14 (measured here, not asserted in tests): the whole run takes at most
20 minutes on a 2-core machine from a warm cache (the model already converted), and the final model's strict F1 is
above 0, and above the base model's zero-shot score, for NER, RE, EE trigger and EE argument.
"""

from __future__ import annotations

import argparse
import json
import os
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


def publish(run_dir: Path, out: Path, wall: float | None) -> Path:
    data = progression.from_summary(run_dir)
    hashes = {r["model"]: json.loads(Path(r["report"]).read_text(encoding="utf-8"))["recipe_hash"]
              for r in data["rows"]}
    # the published copy names the reports relative to the repository, not this machine's checkout
    progression.write({**data, "rows": [{**r, "report": os.path.relpath(r["report"], REPO)} for r in data["rows"]]},
                      out)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    lines = ["# The mini experiment, as published", "",
             f"Command: `python {' '.join(COMMAND)}` (from a warm cache: SmolLM2 already converted)", "",
             f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}. Machine: `{json.dumps(machine())}`", "",
             "Recipe hashes of the evaluated models (the stage fingerprints in their eval reports): "
             + ", ".join(f"{k} `{v}`" for k, v in hashes.items()), "",
             "## Wall time of the invocation that ran the stages", ""]
    table, seconds, what = run_time(summary, wall)
    lines += [*table, "", "## Targets (issue #14)", "", *targets(data, seconds, what), "",
              "The table and plot: [progression.md](progression.md), [progression.png](progression.png). What the "
              "published run does and does not show: [NOTES.md](NOTES.md) (written by hand, not regenerated)."]
    (out / "RUN.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "RUN.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "mini"))
    parser.add_argument("--out", default=str(REPO / "docs" / "mini"))
    parser.add_argument("--publish-only", action="store_true")
    args = parser.parse_args()
    wall = None
    if not args.publish_only:
        start = time.monotonic()
        subprocess.run([sys.executable, *COMMAND, f"pipeline.run_dir={args.run_dir}"], cwd=REPO, check=True)
        wall = time.monotonic() - start
    print(publish(Path(args.run_dir), Path(args.out), wall).read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
