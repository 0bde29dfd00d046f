"""Paper Tables 5, 6 and 7 at laptop scale, run and published by one command (issue #22).

    python benchmarks/repro_small.py                   # run (or resume) both studies, then publish docs/repro_small/
    python benchmarks/repro_small.py --publish-only    # publish the finished studies again

Runs ``+experiment=repro_small +study=table5`` (full, w/o SA, w/o DE, CM only; Table 6 from the same evaluations),
then ``+study=table7`` (SFR, coarse-only, fine-only) with the table5 study's full run in ``pipeline.reuse``, so CM,
SA and the SFR variant's DE stages and final evaluation are linked, not recomputed. Publishing copies each study's
report (``study.md``, ``study.json``, the PNGs), the progression table and plot of the full and w/o SA runs, and
every DE stage's curves, and writes ``RUN.md``: the commands, the machine, the wall time of every stage, each DE
stage's reward trend with its interval, and issue #22's targets checked (measured here, never asserted in a test).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.publish import (  # noqa: E402
    DE_TREND_INTRO,
    copy_study,
    de_stages,
    de_trend_table,
    machine,
    rel,
    run_and_publish,
    stage_time_rows,
    study_variants,
    target_lines,
)
from eval import progression  # noqa: E402

EXPERIMENT = "repro_small"
STUDIES = ("table5", "table7")
# the table5 variants whose progression is published (folder under the output), each showing what its DE stages add
PROGRESSIONS = {"full": ".", "wo_sa": "wo_sa"}
WALLS = f"{EXPERIMENT}-walls.json"  # in --runs: the wall time of each study's command, kept for --publish-only
TIME_TARGET = 150 * 60  # seconds: both studies on 2 cores (issue #22)


def commands(runs: Path) -> dict[str, list[str]]:
    """The pipeline command of each study; table7 reuses the table5 study's full run."""
    table5 = runs / f"{EXPERIMENT}+study-table5"
    return {"table5": ["launch/run_pipeline.py", f"+experiment={EXPERIMENT}", "+study=table5",
                       f"pipeline.run_dir={table5}"],
            "table7": ["launch/run_pipeline.py", f"+experiment={EXPERIMENT}", "+study=table7",
                       f"pipeline.run_dir={runs / f'{EXPERIMENT}+study-table7'}",
                       f"pipeline.reuse=[{table5 / 'full'}]"]}


def records_needed(half_width: float, records: int, difference: float = 0.03) -> int:
    """Test records for a paired 95 % interval of half-width ``difference``, from one of ``half_width`` on
    ``records`` records: the width shrinks as 1/sqrt(n) while the per-record spread of the difference stays."""
    return math.ceil(records * (half_width / difference) ** 2)


def _power_lines(study: Mapping[str, Any], report: Mapping[str, Any]) -> list[str]:
    """Per task: the median half-width of the study's paired intervals (strict) and the records that 3 points need."""
    lines = ["| task | test records | median half-width of a paired difference | records for +/- 3 points |",
             "| --- | ---: | ---: | ---: |"]
    for task in ("ner", "re", "ee"):
        widths = sorted((d["high"] - d["low"]) / 2 for v in study["variants"].values() if v.get("vs_reference")
                        for d in [v["vs_reference"]["strict"][task]] if d)
        n = sum(d["validity"]["n"] for d in report["datasets"] if d["task"] == task)
        if not widths or not n:
            lines.append(f"| {task.upper()} | {n} | – | – |")
            continue
        w = statistics.median(widths)
        lines.append(f"| {task.upper()} | {n} | {100 * w:.1f} | {records_needed(w, n)} |")
    return lines


def publish(runs: Path, out: Path, walls: Mapping[str, float] | None) -> Path:
    """``docs/repro_small/``: both studies' reports, the full run's progression, the DE curves and ``RUN.md``."""
    study_dirs = {s: runs / f"{EXPERIMENT}+study-{s}" for s in STUDIES}
    for study, study_dir in study_dirs.items():
        copy_study(study_dir, out / study)
    table5_runs = study_variants(study_dirs["table5"])
    for variant, where in PROGRESSIONS.items():  # DE's effect from the checkpoint it started from, paired
        data = progression.from_summary(table5_runs[variant])
        progression.write({**data, "rows": [{**r, "report": rel(r["report"])} for r in data["rows"]]}, out / where)
    data = progression.from_summary(table5_runs["full"])
    lines = ["# repro_small: paper Tables 5, 6 and 7 at laptop scale, as published", "",
             "Command: `python benchmarks/repro_small.py`, which runs (from a warm cache: SmolLM2 already converted)",
             "", *[f"    python {' '.join(c)}".replace(str(REPO) + "/", "") for c in commands(runs).values()], "",
             f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}. Machine: `{json.dumps(machine())}`", "",
             "Reports: [table5/study.md](table5/study.md) (Tables 5 and 6), [table7/study.md](table7/study.md), "
             "the progressions of the full run [progression.md](progression.md) (DE after SA: final minus sa) and "
             "of w/o SA [wo_sa/progression.md](wo_sa/progression.md) (DE after CM: final minus cm_all); "
             "what they show: [NOTES.md](NOTES.md) "
             "(written by hand, not regenerated).", "", "## Wall time of every stage", ""]
    total = 0.0
    for study, study_dir in study_dirs.items():
        wall = f", the command {walls[study]:.0f} s" if walls and study in walls else ""
        lines += [f"### {study}{wall}", "", "| variant | stage | status | seconds |", "| --- | --- | --- | ---: |"]
        for variant, run_dir in study_variants(study_dir).items():
            summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
            lines += [f"| {variant} {row}" for row in stage_time_rows(summary)[0]]
            total += sum(r.get("seconds", 0) for r in summary["stages"] if r.get("status") == "ran")
        lines.append("")
    lines += ["Status `shared`: the stage was found finished (in an earlier variant or the reused run) and "
              "linked, costing its check only; its seconds are those of the run that computed it.", "",
              "## DE: reward over the steps of each stage", "", DE_TREND_INTRO, ""]
    trained = de_stages(({"study": study, "variant": variant}, run_dir) for study, study_dir in study_dirs.items()
                        for variant, run_dir in study_variants(study_dir).items())
    table, rising = de_trend_table(trained, ["study", "variant"], out / "curves",
                                   lambda de: f"{de['variant']}-{de['stage']}")
    lines += table
    final = next(r for r in data["rows"] if r["final"])
    table5 = json.loads((study_dirs["table5"] / "study.json").read_text(encoding="utf-8"))
    lines += ["", "## How many test records a 3-point difference takes", "",
              "From the table5 study's paired intervals (each variant minus `full`, strict F1), scaled as 1/sqrt(n): "
              "the records per task for a 95 % paired interval of +/- 3 points.", "",
              *_power_lines(table5, json.loads(Path(final["report"]).read_text(encoding="utf-8")))]
    seconds = sum(walls.values()) if walls else total
    what = "the two commands" if walls else "sum of the stages that ran; republished"
    lines += ["", "## Targets (issue #22)", "", *target_lines(final, rising, seconds, what, TIME_TARGET)]
    (out / "RUN.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "RUN.md"


def main(argv: Sequence[str] | None = None) -> int:
    return run_and_publish(argv, __doc__.split("\n\n")[0], REPO / "docs" / EXPERIMENT, WALLS,
                           lambda runs, _: commands(runs), publish)


if __name__ == "__main__":
    raise SystemExit(main())
