"""repro_balanced with NER kept in SA and DE on revisited prompts, run and published by one command.

    python benchmarks/repro_tuned.py --data-root /path/to/originals   # run (or resume) the run, then publish
    python benchmarks/repro_tuned.py --publish-only                   # publish the finished run again

Runs ``+experiment=repro_tuned data.root=<root>`` (``recipes/experiment/repro_tuned.yaml``) with
``pipeline.reuse=[<runs>/repro_balanced]``, so that repro_balanced's CM stages and their evaluations are linked where
that run is there (and run where it is not), and publishes ``docs/repro_tuned/`` as ``repro_balanced.py`` publishes
its run, plus the paired differences of this run's SA and final models against repro_balanced's (the same test
records; the change of SA's mixture and of DE's settings is the difference).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import repro_balanced  # noqa: E402
from benchmarks.publish import one_run_main  # noqa: E402
from eval import progression  # noqa: E402

EXPERIMENT = "repro_tuned"
BASELINE = repro_balanced.EXPERIMENT
TITLE = "repro_balanced with NER in SA's mixture and DE on revisited prompts"


def command(runs: Path, root: str) -> list[str]:
    """The pipeline command of the run: repro_balanced's finished stages linked, not rerun."""
    return [*repro_balanced.command(runs, root, EXPERIMENT), f"pipeline.reuse=[{runs / BASELINE}]"]


def eval_reports(run_dir: Path) -> dict[str, Path]:
    """Each evaluated model's report in a finished run, by the stage it evaluates (``sa``, ``de_ee``, ...)."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    return {row["evaluates"]: Path(row["report"]) for row in summary["stages"] if row.get("evaluates")}


def against_baseline(runs: Path) -> list[str]:
    """RUN.md's section: each model this run trained itself minus the same stage's model of the baseline run, with
    its paired interval (models the two runs share are left out: their difference is 0 by construction). Without
    the baseline's run folder (its stages then ran in this run) the section says that nothing was paired."""
    if not (runs / BASELINE / "summary.json").is_file():
        return [f"## Against {BASELINE}", "",
                f"Not paired: `{BASELINE}/` was not in the runs folder when this run was published, so its CM stages "
                f"ran in this run and no model of {BASELINE} was there to pair with.", ""]
    ours, theirs = eval_reports(runs / EXPERIMENT), eval_reports(runs / BASELINE)
    pairs = []
    for model, report in ours.items():
        base = theirs.get(model)
        if base is None or base.resolve() == report.resolve():
            continue
        rows = progression.progression([(f"{model} ({BASELINE})", base, False), (model, report, False)])["rows"]
        pairs.append((model, rows[1]["vs_previous"]))
    if not pairs:
        return []
    return [f"## Against {BASELINE}: the same stages' models, paired", "",
            f"This run's model minus {BASELINE}'s model of the same stage (`{BASELINE}/`), in F1 points (parsed and "
            "valid: percentage points of outputs), 95 % paired bootstrap interval over the same test records, `*` "
            "where it excludes 0; `–` where a report does not keep which records were valid.", "",
            *progression.difference_lines(pairs), ""]


def publish(runs: Path, out: Path, walls: Mapping[str, float] | None) -> Path:
    """``docs/repro_tuned/``: repro_balanced's publication of this run, with its differences to repro_balanced."""
    return repro_balanced.publish(runs, out, walls, EXPERIMENT, TITLE, command(runs, "<originals>"),
                                  against_baseline(runs))


def main(argv: Sequence[str] | None = None) -> int:
    return one_run_main(argv, __doc__, EXPERIMENT, command, publish)


if __name__ == "__main__":
    raise SystemExit(main())
