"""repro_small's pipeline with CM-NER on a balanced pool of the full downloads, run and published by one command.

    python benchmarks/repro_balanced.py --data-root /path/to/originals   # run (or resume) the run, then publish
    python benchmarks/repro_balanced.py --publish-only                   # publish the finished run again

Runs ``+experiment=repro_balanced data.root=<root>`` (``recipes/experiment/repro_balanced.yaml``; the root holds
the bundled sources' full downloads in data/'s layout, data/README.md) and publishes ``docs/repro_balanced/``: the
progression table and plot (CM-NER, CM, SA and the final model on the same test records, each step's paired
difference), every DE stage's curves, and ``RUN.md``: the command, the machine, what each SFT stage trained on (rows
per dataset, from its manifest), every stage's time, each evaluated model's strict F1 per NER test set with its
interval (where CM-NER's NER goes in the later stages), each DE stage's reward trend, and issue #22's targets checked
on the final model (measured here, never asserted in a test).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.publish import (  # noqa: E402
    DE_TREND_INTRO,
    de_stages,
    de_trend_table,
    machine,
    one_run_main,
    rel,
    run_time,
    stage_manifest,
    target_lines,
    train_counts,
)
from eval import progression  # noqa: E402
from eval.intervals import dataset_interval  # noqa: E402
from eval.metrics import score_part  # noqa: E402

EXPERIMENT = "repro_balanced"
TITLE = "repro_small's pipeline with CM-NER on a balanced pool"
TIME_TARGET = 150 * 60  # seconds: the laptop-scale budget of issue #22


def command(runs: Path, root: str, experiment: str = EXPERIMENT) -> list[str]:
    """The pipeline command of the run."""
    return ["launch/run_pipeline.py", f"+experiment={experiment}", f"data.root={root}",
            f"pipeline.run_dir={runs / experiment}"]


def training_rows(run_dir: Path, summary: Mapping[str, Any]) -> list[str]:
    """``| stage | task | rows per dataset |`` of every SFT stage that built data (from its manifest)."""
    lines = ["| stage | task | rows per source dataset | rows |", "| --- | --- | --- | ---: |"]
    for row in summary["stages"]:
        stage_dir = run_dir / row["stage"]
        if row.get("evaluates") or row.get("curves") or not (stage_dir / "data").is_dir():
            continue
        manifest = stage_manifest(stage_dir)
        for task in manifest["tasks"]:
            counts = train_counts(manifest, task)
            lines.append(f"| {row['stage']} | {task} | {', '.join(f'{k} {n}' for k, n in counts.items())} | "
                         f"{sum(counts.values())} |")
    return lines


def ner_rows(data: Mapping[str, Any]) -> list[str]:
    """Strict F1 (%) per NER test set of each evaluated model, with its 95 % bootstrap interval over the set's
    records: which sets a stage gains or forgets."""
    reports = {r["model"]: json.loads(Path(r["report"]).read_text(encoding="utf-8")) for r in data["rows"]}
    sets = list(dict.fromkeys(d["key"] for rep in reports.values() for d in rep["datasets"] if d["task"] == "ner"))
    lines = ["| model | " + " | ".join(sets) + " |", "| --- |" + " ---: |" * len(sets)]
    for model, report in reports.items():
        cells = {}
        for d in report["datasets"]:
            if d["task"] == "ner" and d["scores"].get("strict"):
                part = score_part(d["scores"]["strict"], None)
                span = dataset_interval(part)
                cells[d["key"]] = f"{100 * part['score']:.1f}" + (
                    f" [{100 * span[0]:.1f}, {100 * span[1]:.1f}]" if span else "")
        lines.append(f"| {model} | " + " | ".join(cells.get(k, "–") for k in sets) + " |")
    return lines


def publish(runs: Path, out: Path, walls: Mapping[str, float] | None, experiment: str = EXPERIMENT,
            title: str = TITLE, command_line: Sequence[str] | None = None,
            sections: Sequence[str] = ()) -> Path:
    """``docs/<experiment>/``: the run's progression, its DE curves and ``RUN.md`` (``sections``: more of it, before
    the targets)."""
    run_dir = runs / experiment
    data = progression.from_summary(run_dir)
    progression.write({**data, "rows": [{**r, "report": rel(r["report"])} for r in data["rows"]]}, out)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    times, seconds, what = run_time(summary, (walls or {}).get(experiment))
    table, rising = de_trend_table(de_stages([({}, run_dir)]), [], out / "curves", lambda de: de["stage"])
    shown = command_line or command(runs, "<originals>", experiment)
    lines = [f"# {experiment}: {title}, as published", "",
             f"Command: `python benchmarks/{experiment}.py --data-root <originals>`, which runs (from a warm cache: "
             "SmolLM2 already converted)", "",
             "    python " + " ".join(shown).replace(str(REPO) + "/", ""), "",
             f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}. Machine: `{json.dumps(machine())}`", "",
             "The progression (each model on the same test records, each step's paired difference): "
             "[progression.md](progression.md), [progression.png](progression.png); what it shows: "
             "[NOTES.md](NOTES.md) (written by hand, not regenerated).", "",
             "## What each SFT stage trained on", "", *training_rows(run_dir, summary), "",
             "## Strict F1 per NER test set, with its 95 % interval over the set's records", "", *ner_rows(data), "",
             "## Wall time of every stage", "", *times, "",
             "## DE: reward over the steps of each stage", "", DE_TREND_INTRO, "", *table, "", *sections,
             "## Targets (issue #22)", "",
             *target_lines(next(r for r in data["rows"] if r["final"]), rising, seconds, what, TIME_TARGET)]
    (out / "RUN.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "RUN.md"


def main(argv: Sequence[str] | None = None) -> int:
    return one_run_main(argv, __doc__, EXPERIMENT, command, publish)


if __name__ == "__main__":
    raise SystemExit(main())
