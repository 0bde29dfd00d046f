"""Benchmark reports: the JSON record, Markdown tables in the layout of the paper's Tables 1-4 and 6, PNG plots.

Each dataset result (built by ``eval.run_benchmark``) is ``{"key", "task", "paper_key", "ood", "n", "records_id",
"scores": {scorer: score dict}, "validity", "lengths", "read", "label_check"}``. Tables put our number, with its
95 % bootstrap interval (``score_cell``), beside the paper's ProUIE number (``eval/paper_results.yaml``) and their
difference (``difference_cell``: a difference with its interval, ``*`` where it excludes 0; progression and study
tables use the same two cells). The paper's numbers follow InstructUIE's evaluator, so the difference column uses
our ``instructuie`` score when it was computed (``strict`` otherwise), and says which. ``read`` is the test set's
``ReadLog`` (what the reader kept, repaired, dropped and skipped, and why); where a rule changes what is scored,
the table's ``data`` column points to it beside the number, and so does a label warning (``label_check``: the
benchmark asks for a label the model was trained on under another case or spelling).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from converters.lengths import PERCENTILES
from eval.bootstrap import significant
from eval.metrics import score_part

PAPER_RESULTS = Path(__file__).resolve().parent / "paper_results.yaml"
# (table key in paper_results.yaml, title, which part of a task's score dict)
TABLES = {
    "ner": [("table1_ner", "Table 1: NER (F1, %)", None)],
    "re": [("table2_re", "Table 2: RE (F1, %)", None)],
    "ee": [("table3_ee_trigger", "Table 3: EE trigger (%)", "trigger"),
           ("table4_ee_argument", "Table 4: EE argument (F1, %)", "argument")],
}


def load_paper_results(path: str | Path = PAPER_RESULTS) -> dict[str, Any]:
    """The paper's published numbers (one data file)."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _number(x: float) -> str:
    return f"{100 * x:.1f}".replace("-", "\N{MINUS SIGN}")


def score_cell(value: float | None, interval: Sequence[float] | None = None) -> str:
    """A score (a fraction) as the % a table prints, with its 95 % interval: ``41.2 [38.0, 44.5]``."""
    if value is None:
        return "–"
    return _number(value) + (f" [{_number(interval[0])}, {_number(interval[1])}]" if interval else "")


def difference_cell(difference: Mapping[str, float] | None) -> str:
    """A difference (``diff``, ``low``, ``high``; fractions) in % with its interval, ``*`` where the interval
    excludes 0: ``+2.1 [−0.4, 4.6]``, ``+3.0 [0.8, 5.1]*``."""
    if difference is None:
        return "–"
    low, high = difference["low"], difference["high"]
    sign = "+" if difference["diff"] >= 0 else ""
    mark = "*" if significant(low, high) else ""
    return f"{sign}{_number(difference['diff'])} [{_number(low)}, {_number(high)}]{mark}"


def _vs_paper(ours: float | None, interval: Sequence[float] | None, paper: float | None) -> dict[str, float] | None:
    """Ours minus the paper's number (a constant), with our interval shifted by it."""
    if ours is None or paper is None:
        return None
    low, high = (x - paper for x in interval) if interval else (ours - paper, ours - paper)
    return {"diff": ours - paper, "low": low, "high": high}


def _published(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _headline_scorer(results: Sequence[Mapping[str, Any]]) -> str:
    return "instructuie" if all("instructuie" in r["scores"] for r in results) else "strict"


def data_notes(results: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """Per dataset key, the footnote marks of its scoring-relevant notes (``[1][2]``), and the footnote lines.

    A note is scoring-relevant when its rule changes what is scored (``scoring``), rows were skipped, or the
    benchmark's labels differ from the trained ones only by case or spelling.
    """
    marks: dict[str, str] = {}
    lines: list[str] = []
    for r in results:
        read = r.get("read") or {}
        effects = [f"{n['count']} × {reason}: {n['scoring']}" for reason, n in read.get("notes", {}).items()
                   if n.get("scoring")]
        if read.get("skipped_count"):
            effects.append(f"{read['skipped_count']} malformed rows skipped: not scored")
        effects += [f"labels: {w}" for w in r.get("label_check", ())]
        for effect in effects:
            lines.append(f"[{len(lines) + 1}] `{r['key']}`: {effect}")
            marks[r["key"]] = marks.get(r["key"], "") + f"[{len(lines)}]"
    return marks, lines


def table_rows(results: Sequence[Mapping[str, Any]], task: str, paper: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per dataset and table of ``task``: ours (headline and strict) with their intervals, the paper's
    number and Δ (ours minus the paper's, with our interval shifted by it). Scores as fractions."""
    rows = []
    headline = _headline_scorer(results)
    for table, title, part in TABLES[task]:
        for r in results:
            if r["task"] != task:
                continue
            ours, strict = (score_part(r["scores"][s], part) if s in r["scores"] else {} for s in (headline, "strict"))
            published = paper.get(table, {}).get(r["paper_key"])
            published = None if published is None else published / 100
            rows.append({"table": table, "title": title, "dataset": r["key"], "paper_key": r["paper_key"],
                         "ood": r.get("ood", False), "ours": ours.get("score"), "ours_interval": ours.get("interval"),
                         "strict": strict.get("score"), "strict_interval": strict.get("interval"), "paper": published,
                         "delta": _vs_paper(ours.get("score"), ours.get("interval"), published)})
    return rows


def _mean(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return sum(vals) / len(vals) if vals and len(vals) == len(xs) else None


def markdown(report: Mapping[str, Any], paper: Mapping[str, Any] | None = None) -> str:
    """The human-readable report: score tables against the paper, validity, output lengths."""
    paper = paper if paper is not None else load_paper_results()
    results = report["datasets"]
    headline = _headline_scorer(results)
    lines = [f"# Benchmark `{report['benchmark']}`", "",
             f"Model: `{report['model']}`  ", f"Recipe hash: `{report.get('recipe_hash')}`  "
             f"config hash: `{report['config_hash']}`  ",
             f"Backend: {report['backend']}, template {report['template']}, style {report['style']}, "
             f"profile {report['profile']}  ",
             f"Labels checked against {len(report.get('train_manifests') or [])} training stage manifest(s) "
             "(eval/label_check.py)", "",
             f"**ours** = `{headline}` scorer (`instructuie` = InstructUIE's evaluator, quirks included, as behind "
             "the paper's tables; EE arguments: our arguments of the gold event type; see eval/METRICS.md); "
             "**strict** = set-based micro-F1, case kept. Paper = ProUIE (4B) column. `*` after a dataset = "
             "out-of-domain (Table 1). All numbers in %; ours with its 95 % bootstrap interval over the test records "
             "(averages: resampled within each dataset); Δ = ours minus the paper's, `*` where the paper's number "
             "lies outside our interval (see eval/METRICS.md, \"Uncertainty\"). **data**: notes below on what the "
             "test set's reading changed in what is scored.", ""]
    marks, footnotes = data_notes(results)
    for task in ("ner", "re", "ee"):
        rows = table_rows(results, task, paper)
        for table, title, part in TABLES[task]:
            trows = [x for x in rows if x["table"] == table]
            if not trows:
                continue
            lines += [f"## {title}", "", "| dataset | ours | strict | paper ProUIE | Δ | data |",
                      "| --- | ---: | ---: | ---: | ---: | --- |"]
            for x in trows:
                name = x["paper_key"] + ("*" if x["ood"] else "")
                lines.append(f"| {name} (`{x['dataset']}`) | {score_cell(x['ours'], x['ours_interval'])} | "
                             f"{score_cell(x['strict'], x['strict_interval'])} | {_published(x['paper'])} | "
                             f"{difference_cell(x['delta'])} | {marks.get(x['dataset'], '')} |")
            key = f"{task}{'_' + part if part else ''}"
            intervals = report.get("average_intervals") or {}
            ours_avg, paper_avg = _mean([x["ours"] for x in trows]), _mean([x["paper"] for x in trows])
            ours_ci = intervals.get(f"{key}/{headline}")
            lines += [f"| **average** ({len(trows)} sets, unweighted) | {score_cell(ours_avg, ours_ci)} | "
                      f"{score_cell(_mean([x['strict'] for x in trows]), intervals.get(f'{key}/strict'))} | "
                      f"{_published(paper_avg)} | {difference_cell(_vs_paper(ours_avg, ours_ci, paper_avg))} | |", ""]
    if footnotes:
        lines += ["Notes on what is scored:", "", *(f"{f}  " for f in footnotes), ""]
    lines += data_section(results)
    lines += ["## Output validity", "", "| dataset | n | parsed | valid | schema-conformant | grounded | top reason |",
              "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        v = r["validity"]
        top = next(iter(v["reasons"]), "")
        lines.append(f"| {r['key']} | {v['n']} | {100 * v['parsed_rate']:.1f} | {100 * v['valid_rate']:.1f} | "
                     f"{100 * v['schema_rate']:.1f} | {100 * v['grounded_rate']:.1f} | {top} |")
    lines += ["", f"## Output length ({report['length_unit']}; Table 6 shape: min / mean / max of the outputs at or "
              "below each percentile)", "",
              *lengths_table(("task",), [([task], buckets, None) for task, buckets in report["lengths"].items()])]
    return "\n".join(lines) + "\n"


TABLE6_TASKS = ("re", "ee")  # the tasks of the paper's Table 6
BUCKETS = tuple(f"P{p}" for p in PERCENTILES)  # the buckets of converters.lengths.percentile_buckets
LengthRow = tuple[Sequence[str], Mapping[str, Any], Mapping[str, Any] | None]  # leading cells, buckets, the paper's


def lengths_table(columns: Sequence[str], rows: Sequence[LengthRow], paper: bool = False) -> list[str]:
    """Markdown lines of a table shaped like the paper's Table 6, the one writer of it (report, progression, study):
    ``columns`` (each row's leading cells), then min / mean / max of the outputs of each percentile bucket; with
    ``paper``, each bucket's published min / mean / max beside ours (a row's third item, ``{"p50": [...]}``)."""
    head = [f"{p} {who}" for p in BUCKETS for who in ("ours", "paper")] if paper else list(BUCKETS)
    lines = ["| " + " | ".join([*columns, *head]) + " |", "|" + " --- |" * len(columns) + (" ---: |" if paper
                                                                                            else " --- |") * len(head)]
    for cells, buckets, published in rows:
        out = list(cells)
        for p in BUCKETS:
            out.append(f"{buckets[p]['min']} / {buckets[p]['mean']:.1f} / {buckets[p]['max']}")
            if paper:
                theirs = (published or {}).get(p.lower())
                out.append(" / ".join(map(str, theirs)) if theirs else "–")
        lines.append("| " + " | ".join(out) + " |")
    return lines


def table6_lines(columns: Sequence[str], settings: Sequence[tuple[str, Sequence[str], Mapping[str, Any]]],
                 published: Mapping[str, Any]) -> list[str]:
    """Table 6 beside the paper: a row per task (RE, then EE) and setting ``(setting, leading cells after the task,
    lengths by task)`` that measured the task; ``published`` is the paper's ``table6_lengths``."""
    rows = [([task.upper(), *cells], lengths[task], published.get(task, {}).get(setting, {}))
            for task in TABLE6_TASKS for setting, cells, lengths in settings if lengths.get(task)]
    return lengths_table(["task", *columns], rows, paper=True)


def data_section(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown: per test set, every documented reader rule applied (kept / repaired / dropped) and skipped rows."""
    rows = []
    for r in results:
        read = r.get("read") or {}
        for reason, n in read.get("notes", {}).items():
            rows.append(f"| `{r['key']}` | {n['action']} | {n['count']} | {reason} | {n.get('scoring') or '–'} |")
        if read.get("skipped_count"):
            where = ", ".join(s["where"] for s in read["skipped"][:3])
            rows.append(f"| `{r['key']}` | skipped | {read['skipped_count']} | malformed rows (first: {where}) | "
                        "not scored |")
    if not rows:
        return []
    return ["## Data: what reading the test sets kept, repaired, dropped and skipped", "",
            "Counts are over each whole test split (before `limit`); the reader documents every rule.", "",
            "| dataset | action | count | reason | effect on scores |", "| --- | --- | ---: | --- | --- |", *rows, ""]


def plot_scores(report: Mapping[str, Any], path: str | Path, paper: Mapping[str, Any] | None = None) -> None:
    """Per-dataset bars, ours against the paper, one panel per table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paper = paper if paper is not None else load_paper_results()
    panels = [(title, [x for x in table_rows(report["datasets"], task, paper) if x["table"] == table])
              for task in ("ner", "re", "ee") for table, title, _ in TABLES[task]]
    panels = [(t, rows) for t, rows in panels if rows]
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6.0, 0.55 * max(len(r) for _, r in panels) + 2),
                                                      3.2 * len(panels)), squeeze=False)
    for ax, (title, rows) in zip(axes[:, 0], panels):
        xs = range(len(rows))
        ours = [100 * (r["ours"] or 0) for r in rows]
        ax.bar([x - 0.2 for x in xs], ours, width=0.4, label="ours (95 % interval)",
               yerr=error_bars(ours, [r["ours_interval"] for r in rows]), capsize=2)
        ax.bar([x + 0.2 for x in xs], [100 * (r["paper"] or 0) for r in rows], width=0.4, label="paper ProUIE")
        ax.set_xticks(list(xs), [r["paper_key"] + ("*" if r["ood"] else "") for r in rows], rotation=45,
                      ha="right", fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_xlim(-0.6, max(len(rows), 4) - 0.4)  # a lone dataset keeps a normal bar width
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def error_bars(values: Sequence[float], intervals: Sequence[Sequence[float] | None]) -> list[list[float]]:
    """Matplotlib's asymmetric ``yerr`` (below, above) of values in % from intervals as fractions (0 where none)."""
    below = [v - 100 * i[0] if i else 0.0 for v, i in zip(values, intervals)]
    above = [100 * i[1] - v if i else 0.0 for v, i in zip(values, intervals)]
    return [[max(0.0, b) for b in below], [max(0.0, a) for a in above]]


def plot_lengths(lengths: Mapping[str, Sequence[int]], unit: str, path: str | Path) -> None:
    """Histogram of output lengths per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for task, values in lengths.items():
        ax.hist(values, bins=30, alpha=0.5, label=f"{task} (n={len(values)})")
    ax.set_xlabel(f"output length ({unit})")
    ax.set_ylabel("outputs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def compact_json(data: Any) -> str:
    """JSON indented for reading, with every list of numbers on one line (per-record counts stay compact)."""
    lines: list[str] = []

    def mark(x: Any) -> Any:
        if isinstance(x, Mapping):
            return {k: mark(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            if x and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
                lines.append(json.dumps(list(x)))
                return f"\0{len(lines) - 1}"
            return [mark(v) for v in x]
        return x

    text = json.dumps(mark(data), indent=2, ensure_ascii=False)
    return re.sub(r'"\\u0000(\d+)"', lambda m: lines[int(m.group(1))], text)


def write_report(report: Mapping[str, Any], raw_lengths: Mapping[str, Sequence[int]], out_dir: str | Path
                 ) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``scores.png`` and ``lengths.png``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md", "scores_png": out_dir / "scores.png",
             "lengths_png": out_dir / "lengths.png"}
    paths["json"].write_text(compact_json(report), encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    plot_scores(report, paths["scores_png"])
    plot_lengths(raw_lengths, report["length_unit"], paths["lengths_png"])
    return paths
