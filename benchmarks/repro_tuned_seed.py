"""repro_tuned's SA and DE stages again with another seed, from the published run's CM model: what the seed moves.

    python benchmarks/repro_tuned_seed.py --seed 43 --data-root /path/to/originals   # run (or resume), publish
    python benchmarks/repro_tuned_seed.py --seed 43 --publish-only                   # publish the finished run again

The record bootstrap of a report measures test-set noise for one checkpoint; it says nothing about how far another
training run of the same recipe would land. This script trains SA -> DE-NER -> DE-RE -> DE-EE of
``+experiment=repro_tuned`` with ``seed=<seed>`` (SA's data draw, DE's prompts and every stage's training seed)
from ``<runs>/repro_tuned/cm_all`` (CM is shared: only what follows it is replicated) into
``<runs>/repro_tuned_s<seed>``, evaluates its SA and final models, and publishes ``docs/repro_tuned/seed<seed>/``:
its progression, DE curves, eval reports, and each model paired against the published seed-42 run's model of the
same stage (``docs/repro_tuned/reports/``, committed so that any machine pairs with it); and
``docs/repro_tuned/seeds.md`` over every published seed: each seed's scores, their mean with the spread between the
seeds and a t interval over them, and DE's effect (final minus SA) per seed and over the seeds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import repro_balanced, repro_tuned  # noqa: E402
from benchmarks.publish import (  # noqa: E402
    DE_TREND_INTRO,
    add_data_root,
    data_root,
    de_stages,
    de_trend_table,
    machine,
    rel,
    run_time,
)
from eval import intervals, progression  # noqa: E402
from eval.report import difference_cell, score_cell  # noqa: E402
from launch.engines.grpo_records import paired_t_interval  # noqa: E402

EXPERIMENT = repro_tuned.EXPERIMENT
BASE_SEED = 42  # recipes/config.yaml's seed: the published run's
BASELINE_REPORTS = {"sa": "sa.json", "de_ee": "final_de_ee.json"}  # in docs/repro_tuned/reports/, by stage
SEEDS_PAGE = "seeds.md"  # beside the seed<N>/ folders: every published seed together
SHARED = ("cm_ner", "cm_ner_re", "cm_all")
STRICT = [(m, name) for m, name in progression.METRICS]


def run_name(seed: int) -> str:
    return f"{EXPERIMENT}_s{seed}"


def command(runs: Path, root: str, seed: int, cm_model: Path | None = None) -> list[str]:
    """The pipeline command: repro_tuned from its CM model (``<runs>/repro_tuned/cm_all/output``) with ``seed``."""
    cm_model = cm_model or runs / EXPERIMENT / "cm_all" / "output"
    return ["launch/run_pipeline.py", f"+experiment={EXPERIMENT}", f"data.root={root}",
            f"pipeline.run_dir={runs / run_name(seed)}", f"seed={seed}", f"pipeline.skip=[{','.join(SHARED)}]",
            f"model.name_or_path={cm_model}", "pipeline.eval.models=[sa,final]"]


def _replicates(path: Path) -> dict[str, intervals.Replicates | None]:
    report = json.loads(path.read_text(encoding="utf-8"))
    return {m: progression.metric_replicates(report, "strict", m) for m, _ in STRICT}


def seed_lines(ours: Mapping[str, Path], baseline: Mapping[str, Path], seed: int) -> list[str]:
    """RUN.md's seed section: each model against the seed-42 model of its stage, paired on the same records."""
    pairs = []
    for stage in (s for s in BASELINE_REPORTS if s in ours and s in baseline):
        rows = progression.progression([(f"{stage} (seed {BASE_SEED})", baseline[stage], False),
                                        (f"{stage} (seed {seed})", ours[stage], False)])["rows"]
        pairs.append((rows[1]["model"], rows[1]["vs_previous"]))
    return [f"## Seed {seed} against seed {BASE_SEED}: the same stage's models, paired", "",
            f"This run's model minus the published seed-{BASE_SEED} run's (`docs/repro_tuned/reports/`), in F1 "
            "points (parsed and valid: percentage points of outputs), 95 % paired bootstrap interval over the same "
            "test records, `*` where it excludes 0; `–` where a report does not keep which records were valid. "
            "Both start from the same CM model; the seed changes SA's data draw, DE's prompts and every stage's "
            "training seed.", "", *progression.difference_lines(pairs), "",
            f"Over every published seed (the mean, the spread between seeds, DE's effect): [../{SEEDS_PAGE}]"
            f"(../{SEEDS_PAGE}).", ""]


def published_seeds(docs: Path, baseline_dir: Path) -> dict[int, dict[str, Path]]:
    """Seed -> stage -> eval report: the seed-42 run's (``baseline_dir``) and each ``<docs>/seed<N>/reports/``."""
    found = {}
    folders = [(int(d.parent.name[4:]), d) for d in docs.glob("seed*/reports") if d.parent.name[4:].isdigit()]
    for seed, folder in [(BASE_SEED, baseline_dir), *folders]:
        reports = {stage: folder / name for stage, name in BASELINE_REPORTS.items() if (folder / name).is_file()}
        if reports:
            found[seed] = reports
    return dict(sorted(found.items()))


def _seeds_interval(values: Sequence[float]) -> list[float] | None:
    """Student's t interval of the mean over the seeds: each seed one observation, so training noise counts."""
    return paired_t_interval(list(values))


def _seeds_score_interval(values: Sequence[float]) -> list[float] | None:
    """``_seeds_interval`` of scores, clipped to [0, 1]: with two or three seeds t's half width can pass a bound
    that no F1 crosses."""
    ci = _seeds_interval(values)
    return None if ci is None else [max(ci[0], 0.0), min(ci[1], 1.0)]


def _seeds_difference(values: Sequence[float]) -> str:
    ci = _seeds_interval(values)
    return "–" if ci is None else difference_cell({"diff": float(np.mean(values)), "low": ci[0], "high": ci[1]})


def seeds_lines(reports: Mapping[int, Mapping[str, Path]]) -> list[str]:
    """``seeds.md``: each seed's SA and final scores, their mean over the seeds with the record interval of the mean,
    the sd between seeds and a t interval over seeds, and DE's effect (final minus SA) per seed and over them."""
    seeds = sorted(reports)
    stages = [s for s in BASELINE_REPORTS if all(s in reports[seed] for seed in seeds)]
    reps = {(stage, seed): _replicates(reports[seed][stage]) for stage in stages for seed in seeds}
    k = len(seeds)
    lines = [f"# {EXPERIMENT}: every published seed", "",
             f"Seeds {', '.join(map(str, seeds))}: the same CM model, then SA -> DE-NER -> DE-RE -> DE-EE with the "
             f"seed (`benchmarks/repro_tuned_seed.py`; seed {BASE_SEED} is the published run). Strict micro-F1 in %. "
             "Two kinds of interval, each 95 %: `[record]`, a bootstrap over the test records (the same resamples "
             "for every seed), measures which records were drawn, not training; `[seeds]`, Student's t over the "
             f"{k} seeds' numbers (df {k - 1}), measures training noise too: the one to read for what the recipe "
             "does in expectation (a score's clipped to [0, 100]). `*` where an interval excludes 0.", "",
             "## Each seed's models", "", "| model | seed | " + " | ".join(n for _, n in STRICT) + " |",
             "| --- | ---: |" + " ---: |" * len(STRICT)]
    for stage in stages:
        lines += [f"| {stage} | {seed} | " + " | ".join(
            score_cell(r.estimate, intervals.interval_of(r)) if (r := reps[stage, seed][m]) else "–"
            for m, _ in STRICT) + " |" for seed in seeds]
    lines += ["", "## Mean over the seeds", "",
              "Mean [record], the sd between the seeds (ddof 1), and the mean with its [seeds] interval.", "",
              "| model | " + " | ".join(f"{n} mean [record] | {n} sd | {n} [seeds]" for _, n in STRICT) + " |",
              "| --- |" + " ---: |" * (3 * len(STRICT))]
    means = {}
    for stage in stages:
        cells = []
        for metric, _ in STRICT:
            parts = [reps[stage, seed][metric] for seed in seeds]
            means[stage, metric] = mean = intervals.mean_of(parts)
            if mean is None:
                cells += ["–"] * 3
                continue
            estimates = [p.estimate for p in parts]
            cells += [score_cell(mean.estimate, intervals.interval_of(mean)),
                      f"{100 * float(np.std(estimates, ddof=1)):.1f}",
                      score_cell(mean.estimate, _seeds_score_interval(estimates))]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    if len(stages) == len(BASELINE_REPORTS):
        effects = {m: [reps["de_ee", seed][m].estimate - reps["sa", seed][m].estimate for seed in seeds
                       if reps["de_ee", seed][m] and reps["sa", seed][m]] for m, _ in STRICT}
        lines += ["", "## DE's effect: final minus SA", "",
                  "Each seed's final model minus its SA model, paired on the same test records [record]; the mean "
                  "over the seeds of that difference with its [record] interval (both models of every seed "
                  "resampled together) and with its [seeds] interval (the per-seed differences as observations).",
                  "", "| seed | " + " | ".join(n for _, n in STRICT) + " |", "| --- |" + " ---: |" * len(STRICT)]
        lines += [f"| {seed} | " + " | ".join(difference_cell(intervals.difference(reps["de_ee", seed][m],
                                                                                   reps["sa", seed][m]))
                                              for m, _ in STRICT) + " |" for seed in seeds]
        lines += ["| mean [record] | " + " | ".join(
                      difference_cell(intervals.difference(means["de_ee", m], means["sa", m])) for m, _ in STRICT)
                  + " |",
                  "| mean [seeds] | " + " | ".join(
                      _seeds_difference(effects[m]) if len(effects[m]) == k else "–" for m, _ in STRICT) + " |"]
    return [*lines, ""]


def publish(runs: Path, out: Path, seed: int, baseline_dir: Path, wall: float | None) -> Path:
    """``docs/repro_tuned/seed<seed>/``: the seed run's progression, DE curves, eval reports (``reports/``, for any
    machine to pair with) and ``RUN.md`` with its pairs against the reports in ``baseline_dir``; and ``seeds.md``
    beside it, over that seed and every other published one."""
    run_dir = runs / run_name(seed)
    data, ours = progression.from_summary(run_dir), repro_tuned.eval_reports(run_dir)
    progression.write({**data, "rows": [{**r, "report": rel(r["report"])} for r in data["rows"]]}, out)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    times, _, _ = run_time(summary, wall)
    table, _ = de_trend_table(de_stages([({}, run_dir)]), [], out / "curves", lambda de: de["stage"])
    baseline = {stage: baseline_dir / name for stage, name in BASELINE_REPORTS.items()
                if (baseline_dir / name).is_file()}
    shown = " ".join(command(runs, "<originals>", seed)).replace(str(REPO) + "/", "")
    lines = [f"# {EXPERIMENT}, seed {seed}: SA and DE again from the published run's CM model", "",
             f"Command: `python benchmarks/repro_tuned_seed.py --seed {seed} --data-root <originals>`, which runs", "",
             f"    python {shown}", "",
             f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}. Machine: `{json.dumps(machine())}`", "",
             "This run's progression (SA and final on the same test records): [progression.md](progression.md); "
             "what it shows: [../NOTES.md](../NOTES.md) (written by hand).", "",
             "## What each SFT stage trained on", "", *repro_balanced.training_rows(run_dir, summary), "",
             "## Wall time of every stage", "", *times, "",
             "## DE: reward over the steps of each stage", "", DE_TREND_INTRO, "", *table, "",
             *(seed_lines(ours, baseline, seed) if baseline else
               [f"## Against seed {BASE_SEED}", "", f"Not paired: no reports in `{rel(baseline_dir)}`.", ""])]
    (out / "RUN.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "reports").mkdir(exist_ok=True)
    for stage, name in BASELINE_REPORTS.items():
        if stage in ours:
            shutil.copyfile(ours[stage], out / "reports" / name)
    (out.parent / SEEDS_PAGE).write_text("\n".join(seeds_lines(published_seeds(out.parent, baseline_dir))),
                                         encoding="utf-8")
    return out / "RUN.md"


def main(argv: Sequence[str] | None = None) -> int:
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True, help=f"the training seed (the published run's: {BASE_SEED})")
    parser.add_argument("--runs", default=str(REPO / "runs"), help="where repro_tuned's run folder is")
    parser.add_argument("--out", help="default: docs/repro_tuned/seed<seed>")
    parser.add_argument("--baseline-reports", default=str(REPO / "docs" / EXPERIMENT / "reports"),
                        help=f"the seed-{BASE_SEED} run's eval reports ({', '.join(BASELINE_REPORTS.values())})")
    parser.add_argument("--publish-only", action="store_true")
    add_data_root(parser)
    args = parser.parse_args(argv)
    args.error = parser.error
    if args.seed == BASE_SEED:
        parser.error(f"--seed {BASE_SEED} is the published run's seed: give another")
    runs = Path(args.runs).resolve()
    walls = runs / f"{run_name(args.seed)}-wall.json"
    if not args.publish_only:
        cm_model = runs / EXPERIMENT / "cm_all" / "output"
        if not cm_model.is_dir():
            parser.error(f"{cm_model} is missing: run python benchmarks/repro_tuned.py --data-root <originals> first")
        start = time.monotonic()
        subprocess.run([sys.executable, *command(runs, data_root(args), args.seed)], cwd=REPO, check=True)
        walls.write_text(json.dumps(time.monotonic() - start) + "\n", encoding="utf-8")
    wall = json.loads(walls.read_text(encoding="utf-8")) if walls.is_file() else None
    out = Path(args.out or REPO / "docs" / EXPERIMENT / f"seed{args.seed}")
    print(publish(runs, out, args.seed, Path(args.baseline_reports), wall).read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
