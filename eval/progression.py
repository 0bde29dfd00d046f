"""What each stage adds: one table and one plot over the models a run evaluated (``pipeline.eval.models``).

Every evaluated model (the base model zero-shot, a stage's checkpoint, the final model) has an eval report on the
same benchmark records; this module lines them up:

- the progression table: strict and ``instructuie`` F1 per task (NER, RE, EE trigger, EE argument; unweighted
  means over the benchmark's datasets, as ``eval.run_benchmark`` averages them) with their 95 % bootstrap
  intervals, and the output validity rate;
- what each stage changes: every model minus the one evaluated before it and minus the first (the base model),
  with paired bootstrap intervals (the same test records resampled for both; ``eval.intervals``);
- the paper's Table 5 rows beside ours where the run has them (``CM only`` = the ``cm_all`` checkpoint, ``w/o DE``
  = the ``sa`` checkpoint, ``ProUIE`` = the final model of a full run);
- Table 6 on *generated* outputs: min / mean / max output tokens of the buckets at or below P50 / P70 / P99, for RE
  and EE, of the ``cm_all`` (CM) and ``sa`` (CM+SA) checkpoints, beside the paper's.

    python -m eval.progression runs/mini            # (re)write runs/mini/progression.{json,md,png}
    python -m eval.progression runs/mini --out docs/mini
    python -m eval.progression --report a=runs/x/eval_sa/output/report.json --report b=... --out cmp/   # any reports
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from eval import intervals
from eval.benchmarks import describe
from eval.intervals import Replicates
from eval.report import compact_json, difference_cell, error_bars, load_paper_results, score_cell, table6_lines

METRICS = [("ner", "NER"), ("re", "RE"), ("ee_trigger", "EE trigger"), ("ee_argument", "EE argument")]
SCORERS = ("strict", "instructuie")
TABLE5_ROWS = {"cm_all": "CM only", "sa": "w/o DE (CM+SA)", "final": "ProUIE (CM+SA+DE)"}
TABLE6_ROWS = {"cm_all": "CM", "sa": "CM+SA"}
FILES = {"json": "progression.json", "markdown": "progression.md", "plot": "progression.png"}
FINAL_STAGE = "eval"  # launch.plan.EVAL_STAGE: the eval stage of the final model


VALIDITY = {"parsed": "parsed_rate", "valid": "valid_rate"}


def _validity(report: Mapping[str, Any]) -> dict[str, Replicates | None]:
    """Parsed and valid rates over every prediction of the report (datasets weighted by their size), with their
    bootstrap replicates (``eval.intervals.rate_replicates``)."""
    return {name: intervals.rate_replicates(report["datasets"], key) for name, key in VALIDITY.items()}


def metric_replicates(report: Mapping[str, Any], scorer: str, metric: str) -> Replicates | None:
    """The bootstrap replicates of one of ``METRICS`` of a report (a task average, stratified by dataset)."""
    task, _, part = metric.partition("_")
    return intervals.metric_replicates(report["datasets"], scorer, task, part or None)


def _differences(a: Mapping[str, Mapping[str, Replicates | None]], b: Mapping[str, Mapping[str, Replicates | None]],
                 ) -> dict[str, dict[str, Any]]:
    """Paired differences of every score (``SCORERS`` x ``METRICS``) and of the validity rates (``validity``)."""
    return {key: {m: intervals.difference(a[key][m], b[key][m]) for m in a[key]} for key in (*SCORERS, "validity")}


def progression(evaluated: Sequence[tuple[str, str | Path, bool]], full_run: bool = True) -> dict[str, Any]:
    """The rows of the table, one per ``(label, report.json path, is the final model)`` in order; ``full_run``
    says whether the final model went through every stage (only then is it the paper's ``ProUIE`` row).

    Each row has the 95 % bootstrap interval of every score and, after the first, the paired differences to the
    model evaluated before it (``vs_previous``) and to the first one, the base model when it is evaluated
    (``vs_first``): ``{"model", scorer: {metric: {diff, low, high, significant} or None}, "validity": {"parsed",
    "valid": the same}}`` (validity rates pair only where both reports keep which records passed).
    """
    rows: list[dict[str, Any]] = []
    reps: list[dict[str, dict[str, Replicates | None]]] = []
    for label, path, final in evaluated:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        reps.append({**{s: {m: metric_replicates(report, s, m) for m, _ in METRICS} for s in SCORERS},
                     "validity": _validity(report)})
        validity = reps[-1]["validity"]
        row = {"model": label, "final": final, "report": str(path), "benchmark": report["benchmark"],
               "scores": {s: {m: report["averages"].get(f"{m}/{s}") for m, _ in METRICS} for s in SCORERS},
               "intervals": {s: {m: intervals.interval_of(r) for m, r in reps[-1][s].items()} for s in SCORERS},
               "validity": {k: r.estimate if r else 0.0 for k, r in validity.items()},
               "validity_intervals": {k: intervals.interval_of(r) for k, r in validity.items()},
               "length_unit": report["length_unit"],
               "lengths": {t: report["lengths"][t] for t in ("re", "ee") if t in report["lengths"]}}
        if rows:
            row["vs_previous"] = {"model": rows[-1]["model"], **_differences(reps[-1], reps[-2])}
            row["vs_first"] = {"model": rows[0]["model"], **_differences(reps[-1], reps[0])}
        rows.append(row)
    return {"rows": rows, "full_run": full_run, "bootstrap": intervals.settings()}


def _table5_key(row: Mapping[str, Any], full_run: bool) -> str | None:
    if row["final"] and full_run:
        return "final"
    return row["model"] if row["model"] in ("cm_all", "sa") else None


def markdown(data: Mapping[str, Any], paper: Mapping[str, Any] | None = None) -> str:
    """The progression table, Table 5 beside the paper and Table 6 on generated outputs, as Markdown."""
    paper = paper if paper is not None else load_paper_results()
    rows = data["rows"]
    bench = rows[0]["benchmark"] if rows else "?"
    lines = [f"# What each stage adds (benchmark `{bench}`: {describe(bench)})", "",
             "F1 in %, unweighted mean over the benchmark's datasets; `strict` = our set-based micro-F1 (case kept), "
             "`iuie` = InstructUIE's evaluator (the rules of the paper's tables). Valid = outputs that are the "
             "promised JSON, schema-conformant and grounded in the input. In brackets: the 95 % bootstrap interval "
             "over the test records (resampled within each dataset; eval/METRICS.md, \"Uncertainty\").", "",
             "| model | " + " | ".join(f"{name} strict | {name} iuie" for _, name in METRICS) + " | parsed | valid |",
             "| --- |" + " ---: |" * (2 * len(METRICS) + 2)]
    for row in rows:
        spans = row.get("intervals") or {}
        cells = [score_cell(row["scores"][s][m], (spans.get(s) or {}).get(m)) for m, _ in METRICS for s in SCORERS]
        rates = [score_cell(row["validity"][k], (row.get("validity_intervals") or {}).get(k)) for k in VALIDITY]
        lines.append(f"| {row['model']} | " + " | ".join(cells + rates) + " |")
    lines += differences_table(rows)
    table5 = paper.get("table5_ablation", {})
    t5 = [(row, TABLE5_ROWS[key]) for row in rows if (key := _table5_key(row, data["full_run"])) is not None]
    if t5:
        lines += ["", "## Table 5 rows beside the paper (Qwen3-4B on the 36 datasets; ours `iuie`)", "",
                  "| paper row | our model | NER ours | NER paper | RE ours | RE paper | EE trig. / arg. ours | "
                  "EE paper |", "| --- | --- |" + " ---: |" * 6]
        for row, name in t5:
            ours, published = row["scores"]["instructuie"], table5.get(name, {})
            spans = (row.get("intervals") or {}).get("instructuie") or {}
            cell = {m: score_cell(ours[m], spans.get(m)) for m, _ in METRICS}
            lines.append(f"| {name} | {row['model']} | {cell['ner']} | {published.get('ner', '–')} | "
                         f"{cell['re']} | {published.get('re', '–')} | {cell['ee_trigger']} / "
                         f"{cell['ee_argument']} | {published.get('ee', '–')} |")
    t6 = [(row, TABLE6_ROWS[row["model"]]) for row in rows if row["model"] in TABLE6_ROWS]
    if t6:
        lines += ["", f"## Table 6 on generated outputs ({t6[0][0]['length_unit']}: min / mean / max of the outputs "
                  "at or below each percentile)", "",
                  *table6_lines(("setting",), [(setting, [f"{setting} (`{row['model']}`)"], row["lengths"])
                                               for row, setting in t6], paper.get("table6_lengths", {}))]
    return "\n".join(lines) + "\n"


def differences_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown: each model minus the one evaluated before it and minus the first, with paired intervals."""
    pairs = [(row, row[key]) for row in rows for key in ("vs_previous", "vs_first")
             if key in row and not (key == "vs_first" and row[key]["model"] == row["vs_previous"]["model"])]
    if not pairs:
        return []
    lines = ["", "## What each stage changes: paired differences", "",
             "Each model minus the one evaluated before it, and minus the first model, in F1 points (parsed and "
             "valid: percentage points of outputs), with the 95 % "
             "paired bootstrap interval (both models resampled on the same test records); `*` where the interval "
             "excludes 0; `–` where the two reports did not score the same records or one has no per-record "
             "counts (validity: an older report, which keeps rates only).", "",
             *difference_lines([(row["model"], diff) for row, diff in pairs])]
    return lines


def difference_lines(pairs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Markdown ``| model | minus | ... |`` of ``(model, difference)`` pairs, a difference as a row's ``vs_previous``
    (``{"model": the one subtracted, scorer: {metric: ...}}``)."""
    lines = ["| model | minus | " + " | ".join(f"{name} strict | {name} iuie" for _, name in METRICS)
             + " | parsed | valid |", "| --- | --- |" + " ---: |" * (2 * len(METRICS) + len(VALIDITY))]
    for model, diff in pairs:
        cells = [difference_cell(diff[s][m]) for m, _ in METRICS for s in SCORERS]
        cells += [difference_cell((diff.get("validity") or {}).get(k)) for k in VALIDITY]
        lines.append(f"| {model} | {diff['model']} | " + " | ".join(cells) + " |")
    return lines


def plot(data: Mapping[str, Any], path: str | Path) -> None:
    """Strict (solid) and InstructUIE (dashed) F1 of each task across the evaluated models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(rows) + 2), 3.8))
    for i, (metric, name) in enumerate(METRICS):
        color = f"C{i}"
        for scorer, style in (("strict", "-"), ("instructuie", "--")):
            ys = [100 * (r["scores"][scorer][metric] or 0.0) for r in rows]
            spans = [((r.get("intervals") or {}).get(scorer) or {}).get(metric) for r in rows]
            ax.errorbar(xs, ys, yerr=error_bars(ys, spans), fmt=style, marker="o", color=color, capsize=3,
                        label=f"{name} ({scorer})")
    ax.set_xticks(list(xs), [r["model"] for r in rows])
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("What each stage adds (bars: 95 % bootstrap interval)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(data: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """``progression.json``, ``progression.md`` and ``progression.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in FILES.items()}
    paths["json"].write_text(compact_json(data) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown(data), encoding="utf-8")
    plot(data, paths["plot"])
    return paths


def from_summary(run_dir: str | Path) -> dict[str, Any]:
    """The progression of a finished run, from the eval stages listed in its ``summary.json``."""
    summary = json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    evals = [row for row in summary["stages"] if row.get("evaluates")]
    if not evals:
        raise ValueError(f"{run_dir}/summary.json lists no evaluated model (set pipeline.eval.models)")
    return progression([(row["evaluates"], row["report"], row["stage"] == FINAL_STAGE) for row in evals],
                       summary["full_run"])


def from_reports(labelled: Sequence[str]) -> dict[str, Any]:
    """The progression of eval reports named on the command line (``LABEL=PATH``, in order): models of different
    runs or machines, paired on the records they share (no ``final`` row: they need not form a pipeline)."""
    evaluated = []
    for item in labelled:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise ValueError(f"--report {item!r}: expected LABEL=PATH (e.g. sa=runs/mini/eval_sa/output/report.json)")
        if not Path(path).is_file():
            raise ValueError(f"--report {item!r}: no report at {path}")
        evaluated.append((label, path, False))
    return progression(evaluated, full_run=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.progression", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", help="a finished pipeline run folder (holding summary.json)")
    parser.add_argument("--report", action="append", metavar="LABEL=PATH",
                        help="an eval report instead of a run folder (repeat, in table order; needs --out)")
    parser.add_argument("--out", help="where to write the files (default: the run folder)")
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.report is None):
        parser.error("give a run folder or --report LABEL=PATH ..., not both")
    if args.report and not args.out:
        parser.error("--report needs --out")
    try:
        data = from_summary(args.run_dir) if args.run_dir else from_reports(args.report)
    except ValueError as exc:
        parser.error(str(exc))
    paths = write(data, args.out or args.run_dir)
    print(paths["markdown"].read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
