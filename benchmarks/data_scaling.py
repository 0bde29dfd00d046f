"""CM on NER against training data at 135M (issue #22), run and published by one command.

    python benchmarks/data_scaling.py --data-root /path/to/originals   # run (or resume) the study, publish
    python benchmarks/data_scaling.py --publish-only                   # publish the finished study again

Runs ``+experiment=repro_small +study=data_scaling data=originals data.root=<root>`` (``recipes/study/
data_scaling.yaml``; the root holds the bundled sources' full downloads in data/'s layout, data/README.md) and
publishes ``docs/data_scaling/``: the study's report (Variants and Settings tables, ``variants.png``) and ``RUN.md``:
the command, the machine, and per variant what it trained on (rows per dataset, from the stage's manifest), its stage
times and its strict F1 and valid rate per NER test set, the numbers the notes (``NOTES.md``, by hand) explain.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.publish import (  # noqa: E402
    add_data_root,
    copy_study,
    data_root,
    machine,
    run_and_publish,
    stage_manifest,
    study_variants,
    train_counts,
)
from eval.intervals import dataset_interval  # noqa: E402
from eval.metrics import score_part  # noqa: E402
from eval.report import score_cell  # noqa: E402


@dataclass(frozen=True)
class ScalingStudy:
    """A study of one training stage against its data (run and published by ``benchmarks/<study>.py``): the stage's
    task, which experiment it runs on, and any arguments its command needs beyond the data root (``extra(runs)``)."""

    experiment: str
    study: str
    stage: str
    task: str
    title: str
    extra: Callable[[Path], list[str]] = lambda runs: []

    @property
    def folder(self) -> str:
        return f"{self.experiment}+study-{self.study}"

    def command(self, runs: Path, data_root: str) -> list[str]:
        """The pipeline command of the study."""
        return ["launch/run_pipeline.py", f"+experiment={self.experiment}", f"+study={self.study}", "data=originals",
                f"data.root={data_root}", *self.extra(runs), f"pipeline.run_dir={runs / self.folder}"]

    def variant_row(self, run_dir: Path) -> dict[str, Any]:
        """What one variant trained on and how it scored: seed, rows per training dataset (the stage's manifest),
        stage seconds, and per test set of the task its strict F1 with its 95 % bootstrap interval and its valid
        rate (the final evaluation's report)."""
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        manifest = stage_manifest(run_dir / self.stage)
        evaluation = _stage(summary, "eval")
        report = json.loads(Path(evaluation["report"]).read_text(encoding="utf-8"))
        return {"seed": manifest["seed"], "train": train_counts(manifest, self.task),
                "train_seconds": _stage(summary, self.stage).get("seconds"),
                "eval_seconds": evaluation.get("seconds"),
                "test": {d["key"]: {"f1": d["scores"]["strict"]["score"],
                                    "interval": dataset_interval(score_part(d["scores"]["strict"], None)),
                                    "valid": d["validity"]["valid_rate"], "n": d["validity"]["n"]}
                         for d in report["datasets"] if d["task"] == self.task}}

    def publish(self, runs: Path, out: Path, wall: float | None) -> Path:
        """``docs/<study>/``: the study's report and ``RUN.md``."""
        study_dir = runs / self.folder
        copy_study(study_dir, out)
        rows = {name: self.variant_row(run_dir) for name, run_dir in study_variants(study_dir).items()}
        n = {k: t["n"] for r in rows.values() for k, t in r["test"].items()}
        took = f"{wall:.0f} s, the command" if wall is not None else (
            f"{sum((r['train_seconds'] or 0) + (r['eval_seconds'] or 0) for r in rows.values()):.0f} s, the sum of "
            "the variants' stages (republished)")
        lines = [f"# {self.study}: {self.title}, as published", "",
                 f"Command: `python benchmarks/{self.study}.py --data-root <originals>`, which runs (from a warm "
                 "cache: SmolLM2 already converted)", "",
                 "    python " + " ".join(self.command(runs, "<originals>")).replace(str(REPO) + "/", ""), "",
                 f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}. Machine: `{json.dumps(machine())}`. "
                 f"Took {took}.", "",
                 "Report: [study.md](study.md) (every variant's F1 with its interval and its paired difference to "
                 "the reference; each setting's mean over its seeds with the spread between them), "
                 "[variants.png](variants.png); what it shows: [NOTES.md](NOTES.md) (written by hand, not "
                 "regenerated).", "",
                 "## Per variant: training rows per dataset, stage seconds, strict F1 (95 % interval over the set's "
                 "records) and valid rate per test set",
                 "", f"Test records per set: {', '.join(f'{k} {v}' for k, v in n.items())}. A `valid` answer parses "
                 "and names only labels of the schema and values found in the input (eval/METRICS.md).", "",
                 *_table(rows)]
        (out / "RUN.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return out / "RUN.md"

    def main(self, argv: Sequence[str] | None, doc: str) -> int:
        """Run (or resume) the study and publish it into ``docs/<study>/``; the command's wall time is kept in
        ``<runs>/<folder>-wall.json`` for ``--publish-only``."""
        return run_and_publish(
            argv, doc.split("\n\n")[0], REPO / "docs" / self.study, f"{self.folder}-wall.json",
            lambda runs, args: {self.study: self.command(runs, data_root(args))},
            lambda runs, out, walls: self.publish(runs, out, (walls or {}).get(self.study)), add_data_root)


def _stage(summary: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return next((r for r in summary["stages"] if r["stage"] == name), {})


def _table(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    trained = sorted({d for r in rows.values() for d in r["train"]})
    tested = list(dict.fromkeys(k for r in rows.values() for k in r["test"]))
    lines = ["| variant | seed | " + " | ".join(f"train {d}" for d in trained) + " | train s | eval s | "
             + " | ".join(f"{k} F1 (valid)" for k in tested) + " |",
             "| --- |" + " ---: |" * (1 + len(trained) + 2 + len(tested))]
    for name, r in rows.items():
        scores = [f"{score_cell(r['test'][k]['f1'], r['test'][k]['interval'])} ({100 * r['test'][k]['valid']:.0f} %)"
                  if k in r["test"] else "–" for k in tested]
        lines.append(f"| {name} | {r['seed']} | " + " | ".join(str(r["train"].get(d, 0)) for d in trained)
                     + f" | {r['train_seconds'] or 0:.0f} | {r['eval_seconds'] or 0:.0f} | " + " | ".join(scores)
                     + " |")
    return lines


# CM on NER from the base model (recipes/study/data_scaling.yaml)
NER = ScalingStudy("repro_small", "data_scaling", "cm_ner", "ner",
                   "CM on NER against training data at 135M")
# SA on RE alone from repro_tuned's CM model (recipes/study/re_scaling.yaml; that run in <runs>/repro_tuned)
RE = ScalingStudy("repro_tuned", "re_scaling", "sa", "re", "SA on RE against training data at 135M",
                  lambda runs: [f"model.name_or_path={runs / 'repro_tuned' / 'cm_all' / 'output'}"])


def main(argv: Sequence[str] | None = None) -> int:
    return NER.main(argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
