"""Benchmark reports: the JSON record, Markdown tables in the layout of the paper's Tables 1-4 and 6, PNG plots.

Each dataset result (built by ``eval.run_benchmark``) is ``{"key", "task", "paper_key", "ood", "n", "scores":
{scorer: score dict}, "validity", "lengths", "read", "label_check"}``. Tables put our number beside the paper's
ProUIE number (``eval/paper_results.yaml``) and their difference. The paper's numbers follow InstructUIE's
evaluator, so the difference column uses our ``instructuie`` score when it was computed (``strict`` otherwise),
and says which. ``read`` is the test set's ``ReadLog`` (what the reader kept, repaired, dropped and skipped, and
why); where a rule changes what is scored, the table's ``data`` column points to it beside the number, and so
does a label warning (``label_check``: the benchmark asks for a label the model was trained on under another
case or spelling).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from eval.metrics import headline

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


def _value(scores: Mapping[str, Any], scorer: str, part: str | None) -> float | None:
    result = scores.get(scorer)
    if result is None:
        return None
    return 100 * headline(result, part)


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


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
    """One row per dataset and table of ``task``: ours (headline and strict), the paper's number and Δ."""
    rows = []
    headline = _headline_scorer(results)
    for table, title, part in TABLES[task]:
        for r in results:
            if r["task"] != task:
                continue
            ours = _value(r["scores"], headline, part)
            published = paper.get(table, {}).get(r["paper_key"])
            rows.append({"table": table, "title": title, "dataset": r["key"], "paper_key": r["paper_key"],
                         "ood": r.get("ood", False), "ours": ours, "strict": _value(r["scores"], "strict", part),
                         "paper": published, "delta": None if ours is None or published is None else ours - published})
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
             "**strict** = set-based micro-F1, case kept. Paper = ProUIE (4B) column. `*` = out-of-domain "
             "(Table 1). All numbers in %. **data**: notes below on what the test set's reading changed in what "
             "is scored.", ""]
    marks, footnotes = data_notes(results)
    for task in ("ner", "re", "ee"):
        rows = table_rows(results, task, paper)
        for table, title, _ in TABLES[task]:
            trows = [x for x in rows if x["table"] == table]
            if not trows:
                continue
            lines += [f"## {title}", "", "| dataset | ours | strict | paper ProUIE | Δ | data |",
                      "| --- | ---: | ---: | ---: | ---: | --- |"]
            for x in trows:
                name = x["paper_key"] + ("*" if x["ood"] else "")
                lines.append(f"| {name} (`{x['dataset']}`) | {_fmt(x['ours'])} | {_fmt(x['strict'])} | "
                             f"{_fmt(x['paper'])} | {_fmt(x['delta'])} | {marks.get(x['dataset'], '')} |")
            ours_avg, paper_avg = _mean([x["ours"] for x in trows]), _mean([x["paper"] for x in trows])
            lines += [f"| **average** ({len(trows)} sets, unweighted) | {_fmt(ours_avg)} | "
                      f"{_fmt(_mean([x['strict'] for x in trows]))} | {_fmt(paper_avg)} | "
                      f"{_fmt(None if ours_avg is None or paper_avg is None else ours_avg - paper_avg)} | |", ""]
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
              "below each percentile)", "", "| task | P50 | P70 | P99 |", "| --- | --- | --- | --- |"]
    for task, buckets in report["lengths"].items():
        cells = [f"{b['min']} / {b['mean']:.1f} / {b['max']}" for b in buckets.values()]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
        ax.bar([x - 0.2 for x in xs], [r["ours"] or 0 for r in rows], width=0.4, label="ours")
        ax.bar([x + 0.2 for x in xs], [r["paper"] or 0 for r in rows], width=0.4, label="paper ProUIE")
        ax.set_xticks(list(xs), [r["paper_key"] + ("*" if r["ood"] else "") for r in rows], rotation=45,
                      ha="right", fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_xlim(-0.6, max(len(rows), 4) - 0.4)  # a lone dataset keeps a normal bar width
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


def write_report(report: Mapping[str, Any], raw_lengths: Mapping[str, Sequence[int]], out_dir: str | Path
                 ) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``scores.png`` and ``lengths.png``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md", "scores_png": out_dir / "scores.png",
             "lengths_png": out_dir / "lengths.png"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    plot_scores(report, paths["scores_png"])
    plot_lengths(raw_lengths, report["length_unit"], paths["lengths_png"])
    return paths
