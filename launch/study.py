"""Studies: the paper's analyses (Tables 5, 6 and 7) as one command, a set of runs sharing every stage they can.

    python launch/run_pipeline.py +experiment=mini +study=table5
    python launch/run_pipeline.py +experiment=prouie_4b +study=table5 pipeline.dry_run=true

A study (``recipes/study/<name>.yaml``; users write their own) names variants, each a list of recipe overrides on
top of the command's own (and of the study's ``common`` ones). The variants run one after the other, each in its
own run folder ``<study dir>/<variant>/``; a stage whose fingerprint equals a stage already finished in an earlier
variant (or in a run of ``pipeline.reuse``) is verified and linked, never recomputed (``launch.reuse``): the
ablations of Table 5 share CM with the full run, and ``w/o DE`` and ``CM only`` are evaluations of checkpoints the
full run already has. Interrupting a study and rerunning the command resumes it. The report
(``<study dir>/study.md``, ``study.json`` and one PNG per table) puts the paper's tables beside our numbers, each
with its 95 % bootstrap interval, and every variant's paired difference to the reference variant (``reference``,
else the first: the full run of Table 5, the full SFR of Table 7); a study of one's own, without a paper table,
gets a Variants table of the same (``recipes/study/data_scaling.yaml``). A variant with ``replicate_of: <variant>``
repeats that one with another seed: the Settings table gives each setting's mean over its runs with its interval,
the spread between the runs (training noise, which no interval over test records covers) and the paired
differences of the means (eval/METRICS.md, "Seeds of one setting").

The study folder is ``pipeline.run_dir`` when set, else ``runs/<experiment>+study-<name>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from launch.compose import compose_recipe
from launch.plan import Plan, build_plan, check_keys
from launch.stage import RecipeSettings, recipe_settings

TABLES = ("table5", "table6", "table7")


@dataclass(frozen=True)
class VariantSpec:
    """The keys of one variant of a study (``study.variants.<name>``)."""

    overrides: list[str] = field(default_factory=list)  # recipe overrides on top of the command's and ``common``
    paper: str | None = None                            # the paper's row it stands for
    replicate_of: str | None = None                     # the variant it repeats with another seed (same setting)


@dataclass(frozen=True)
class StudySpec:
    """The keys of a study (``recipes/study/<name>.yaml``)."""

    name: str
    variants: dict[str, VariantSpec]
    description: str = ""
    tables: list[str] = field(default_factory=list)     # of TABLES
    common: list[str] = field(default_factory=list)     # overrides of every variant
    prefer_benchmark: str | None = None                 # evaluated on when its test sets are present
    reference: str | None = None                        # the variant the others are compared with (default: first)


@dataclass
class Variant:
    """One run of a study: its name, its overrides, the paper row it stands for, its plan."""

    name: str
    overrides: list[str]
    paper: str | None
    plan: Plan
    replicate_of: str | None = None


def check_study(study: Mapping[str, Any]) -> None:
    """Unknown keys, an empty variant list or an unknown table are errors naming the key."""
    check_keys(study, StudySpec, "study", "a study")
    if not study.get("variants"):
        raise ValueError("study: 'variants' must name at least one variant (name: {overrides: [...]})")
    for name, variant in study["variants"].items():
        check_keys(variant or {}, VariantSpec, f"study.variants.{name}", "a variant")
    bad_tables = [t for t in study.get("tables") or [] if t not in TABLES]
    if bad_tables:
        raise ValueError(f"study.tables: unknown {bad_tables}; known: {list(TABLES)}")
    if study.get("reference") is not None and study["reference"] not in study["variants"]:
        raise ValueError(f"study.reference: {study['reference']!r} is not a variant ({sorted(study['variants'])})")
    for name, variant in study["variants"].items():
        of = (variant or {}).get("replicate_of")
        if of is not None and (of == name or of not in study["variants"]
                               or (study["variants"][of] or {}).get("replicate_of") is not None):
            raise ValueError(f"study.variants.{name}.replicate_of: {of!r} must name another variant that is no "
                             "replicate itself")


def study_dir(settings: RecipeSettings, study: Mapping[str, Any]) -> Path:
    run_dir = settings.pipeline.run_dir or f"runs/{settings.experiment_name}+study-{study['name']}"
    return Path(run_dir).expanduser().resolve()


def _benchmark_present(plan: Plan, benchmark: str) -> bool:
    """Whether every test set of ``benchmark`` can be read with the eval stage's ``data_dir``."""
    from converters.readers import source_files
    from eval.benchmarks import resolve

    evals = [s for s in plan.stages if s.kind == "eval"]
    if not evals:
        return False
    try:
        specs = [ds.source_spec(evals[0].config.get("data_dir")) for ds in resolve(benchmark)]
        return all(all(Path(f).is_file() for f in source_files(spec)) for spec in specs)
    except (ValueError, FileNotFoundError, KeyError):
        return False


def plan_study(overrides: Sequence[str], study: Mapping[str, Any]) -> tuple[Path, list[Variant]]:
    """The study folder and the plan of every variant, in the study's order.

    ``overrides`` are the command's recipe overrides (without ``+study=``). With ``prefer_benchmark``, the variants
    are evaluated on that benchmark when its test sets are present (Table 6 is measured on SciERC, SemEval, ACE2005
    and CASIE in the paper), else on the recipe's own.
    """
    check_study(study)
    common = list(study.get("common") or [])
    root: Path | None = None
    variants = []
    for name, spec in study["variants"].items():
        extra = list((spec or {}).get("overrides") or [])
        cfg = compose_recipe([*overrides, *common, *extra])
        root = root or study_dir(recipe_settings(cfg), study)
        cfg["pipeline"]["run_dir"] = str(root / name)  # set after composition: no Hydra grammar on paths
        plan = build_plan(cfg)
        preferred = study.get("prefer_benchmark")
        if preferred and _benchmark_present(plan, preferred):
            cfg = compose_recipe([*overrides, *common, *extra, f"pipeline.eval.benchmark={preferred}"])
            cfg["pipeline"]["run_dir"] = str(root / name)
            plan = build_plan(cfg)
        variants.append(Variant(name, extra, (spec or {}).get("paper"), plan, (spec or {}).get("replicate_of")))
    return root, variants


def shared_stages(variants: Sequence[Variant]) -> dict[tuple[str, str], str]:
    """``(variant, stage) -> the variant that computes it first``, for every stage another variant also has."""
    first: dict[str, str] = {}
    shared = {}
    for variant in variants:
        for stage in variant.plan.stages:
            owner = first.setdefault(stage.fingerprint, variant.name)
            if owner != variant.name:
                shared[(variant.name, stage.name)] = owner
    return shared


def print_dry_run(root: Path, variants: Sequence[Variant], console: Console) -> dict[str, float]:
    """Every variant's stages, which are shared and with whom, and the GPU-hours of the study against running each
    variant separately from scratch (the recipe's cluster and ``estimate`` model); returns the totals."""
    from launch.estimate import gpu_hours

    shared = shared_stages(variants)
    table = Table(title=f"study: {root}")
    for column in ("variant", "stage", "engine", "samples", "shared with", "GPU-h"):
        table.add_column(column)
    naive = study = 0.0
    for variant in variants:
        for stage in variant.plan.stages:
            hours = gpu_hours(stage) or 0.0
            owner = shared.get((variant.name, stage.name))
            naive += hours
            study += 0.0 if owner else hours
            table.add_row(variant.name, stage.name, stage.engine, str(stage.samples or ""),
                          f"= {owner}" if owner else "", f"{hours:.1f}" if not owner else "0 (shared)")
    console.print(table)
    saving = 1 - study / naive if naive else 0.0
    console.print(f"GPU-hours: study {study:.1f} vs each variant separately {naive:.1f} (saving {100 * saving:.0f}%); "
                  f"{len(shared)} of {sum(len(v.plan.stages) for v in variants)} stages are shared "
                  "(evaluation stages are not in the GPU-hour model)")
    return {"study_gpu_hours": study, "naive_gpu_hours": naive, "shared_stages": len(shared)}


def execute_study(root: Path, variants: Sequence[Variant], executor: Any, console: Console,
                  study: Mapping[str, Any]) -> dict[str, Any]:
    """Run the variants in order, each reusing the stages the ones before it finished; then write the report."""
    from launch.driver import execute_plan

    done: list[Path] = []
    for variant in variants:
        console.rule(f"study {study['name']}: {variant.name} {' '.join(variant.overrides)}")
        execute_plan(variant.plan, executor, console, reuse=done)
        done.append(variant.plan.run_dir)
    return write_report(root, variants, study)


# ------------------------------------------------------------------------------------------------ the report


def _final_row(variant: Variant) -> dict[str, Any] | None:
    from eval.progression import from_summary

    rows = [r for r in from_summary(variant.plan.run_dir)["rows"] if r["final"]]
    return rows[0] if rows else None


def _task_scores(row: Mapping[str, Any], scorer: str) -> dict[str, float | None]:
    """NER, RE and EE of one evaluated model; EE is the mean of trigger and argument F1 (the paper's Tables 5 and 7
    give one EE number without defining it; we say so in the report)."""
    s = row["scores"][scorer]
    ee = [x for x in (s["ee_trigger"], s["ee_argument"]) if x is not None]
    return {"ner": s["ner"], "re": s["re"], "ee": sum(ee) / len(ee) if ee else None}


def _task_replicates(row: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per scorer, the bootstrap replicates of NER, RE and EE (mean of trigger and argument, resample by resample)
    of one evaluated model, from the per-record counts of its report; None where the report has none."""
    from eval.intervals import mean_of
    from eval.progression import SCORERS, metric_replicates

    report = json.loads(Path(row["report"]).read_text(encoding="utf-8")) if row else None
    out: dict[str, dict[str, Any]] = {}
    for scorer in SCORERS:
        reps = {m: metric_replicates(report, scorer, m) if report else None
                for m in ("ner", "re", "ee_trigger", "ee_argument")}
        out[scorer] = {"ner": reps["ner"], "re": reps["re"], "ee": mean_of([reps["ee_trigger"], reps["ee_argument"]])}
    return out


def report_data(variants: Sequence[Variant], study: Mapping[str, Any]) -> dict[str, Any]:
    """Per table: our rows with their 95 % bootstrap intervals, each variant's paired difference to the reference
    variant (``study.reference``, else the first), and the paper's numbers beside them."""
    from eval.intervals import difference, interval_of, settings
    from eval.progression import TABLE6_ROWS, from_summary
    from eval.report import load_paper_results

    paper = load_paper_results()
    reference = study.get("reference") or variants[0].name
    data: dict[str, Any] = {"study": study["name"], "reference": reference, "bootstrap": settings(), "variants": {}}
    reps = {}
    for variant in variants:
        final = _final_row(variant)
        reps[variant.name] = _task_replicates(final)
        data["variants"][variant.name] = {
            "run_dir": str(variant.plan.run_dir), "overrides": variant.overrides, "paper": variant.paper,
            "final_model": final["model"] if final else None,
            "strict": _task_scores(final, "strict") if final else None,
            "instructuie": _task_scores(final, "instructuie") if final else None,
            "intervals": {s: {t: interval_of(r) for t, r in by_task.items()}
                          for s, by_task in reps[variant.name].items()}}
    for name, v in data["variants"].items():
        v["vs_reference"] = None if name == reference else {
            s: {t: difference(r, reps[reference][s][t]) for t, r in by_task.items()}
            for s, by_task in reps[name].items()}
    for table, key in (("table5", "table5_ablation"), ("table7", "table7_reward")):
        if table in (study.get("tables") or []):
            data[table] = [{"variant": name, "row": v["paper"], "ours": v["instructuie"], "strict": v["strict"],
                            "intervals": v["intervals"], "vs_reference": v["vs_reference"],
                            "paper": paper.get(key, {}).get(v["paper"])}
                           for name, v in data["variants"].items() if v["paper"]]
    if not {"table5", "table7"} & set(study.get("tables") or []):
        data["variants_table"] = [{"variant": name, "row": v["paper"] or name, "overrides": v["overrides"],
                                   "ours": v["instructuie"], "strict": v["strict"], "intervals": v["intervals"],
                                   "vs_reference": v["vs_reference"], "paper": None}
                                  for name, v in data["variants"].items()]
    if any(v.replicate_of for v in variants):
        data["settings"] = _settings(variants, reps, data["variants"], reference)
    if "table6" in (study.get("tables") or []):
        rows = {}
        for variant in variants:
            for row in from_summary(variant.plan.run_dir)["rows"]:
                setting = TABLE6_ROWS.get(row["model"])
                if setting and setting not in rows:
                    rows[setting] = {"model": row["model"], "variant": variant.name, "unit": row["length_unit"],
                                     "benchmark": row["benchmark"], "lengths": row["lengths"]}
        data["table6"] = {"ours": rows, "paper": paper.get("table6_lengths", {})}
    return data


def _settings(variants: Sequence[Variant], reps: Mapping[str, Any], scored: Mapping[str, Any],
              reference: str) -> list[dict[str, Any]]:
    """Per setting (a variant and its ``replicate_of`` repeats): the mean score over its runs, the bootstrap
    interval of that mean over the test records (each resample scores every run on the same records), the spread
    between runs (sample standard deviation, min and max: what the seed moves, which the interval does not
    cover), and the paired difference of the means to the reference variant's setting."""
    import numpy as np

    from eval.intervals import difference, interval_of, mean_of

    members: dict[str, list[str]] = {}
    for v in variants:
        members.setdefault(v.replicate_of or v.name, []).append(v.name)
    means = {setting: {s: {t: mean_of([reps[m][s][t] for m in names]) for t in ("ner", "re", "ee")}
                       for s in ("strict", "instructuie")} for setting, names in members.items()}
    ref = next(setting for setting, names in members.items() if reference in names)
    out = []
    for setting, names in members.items():
        row: dict[str, Any] = {"setting": setting, "runs": names, "spread": {}}
        for scorer in ("strict", "instructuie"):
            values = {t: [scored[m][scorer][t] for m in names if scored[m][scorer] and scored[m][scorer][t]
                          is not None] for t in ("ner", "re", "ee")}
            row[scorer] = {t: float(np.mean(x)) if len(x) == len(names) else None for t, x in values.items()}
            row["spread"][scorer] = {t: {"sd": float(np.std(x, ddof=1)), "min": min(x), "max": max(x)}
                                     if len(x) == len(names) > 1 else None for t, x in values.items()}
        mean = means[setting]
        row["intervals"] = {s: {t: interval_of(r) for t, r in by_task.items()} for s, by_task in mean.items()}
        row["vs_reference"] = None if setting == ref else {
            s: {t: difference(r, means[ref][s][t]) for t, r in by_task.items()} for s, by_task in mean.items()}
        out.append(row)
    return out


def _differences(rows: Sequence[Mapping[str, Any]], reference: str, names: Sequence[str] = ("row", "variant"),
                 what: str = "variant") -> list[str]:
    """Markdown: each row minus the reference, with paired intervals; ``names``: the rows' label columns."""
    from eval.report import difference_cell

    others = [r for r in rows if r.get("vs_reference")]
    if not others:
        return []
    lines = [f"Minus the reference {what} `{reference}`, in F1 points, with the 95 % paired bootstrap interval "
             "(both resampled on the same test records); `*` where it excludes 0; `–` where the two evaluations did "
             "not score the same records or a report has no per-record counts.", "",
             "| " + " | ".join(names) + " | " + " | ".join(f"{t} iuie | {t} strict" for t in ("NER", "RE", "EE"))
             + " |", "|" + " --- |" * len(names) + " ---: |" * 6]
    for r in others:
        cells = [difference_cell(r["vs_reference"][s][t]) for t in ("ner", "re", "ee")
                 for s in ("instructuie", "strict")]
        lines.append("| " + " | ".join(_label(r[n]) for n in names) + " | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _label(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def _scores_cell(row: Mapping[str, Any], task: str) -> str:
    """One task's InstructUIE score with its interval, the strict one in brackets: ``41.2 [38.0, 44.5] (40.1 [..])``."""
    from eval.report import score_cell

    spans = row.get("intervals") or {}
    return (f"{score_cell((row['ours'] or {}).get(task), (spans.get('instructuie') or {}).get(task))} "
            f"({score_cell((row['strict'] or {}).get(task), (spans.get('strict') or {}).get(task))})")


def _variant_lines(rows: Sequence[Mapping[str, Any]], reference: str) -> list[str]:
    """Markdown for a study of the user's own (no paper table): every variant's scores with their intervals and
    overrides, then the paired differences to the reference variant."""
    lines = ["## Variants", "", "| variant | overrides | NER | RE | EE |", "| --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        cells = [_scores_cell(r, t) for t in ("ner", "re", "ee")]
        overrides = " ".join(f"`{o}`" for o in r["overrides"]) or "–"
        lines.append(f"| {r['row']} | {overrides} | " + " | ".join(cells) + " |")
    return [*lines, "", *_differences(rows, reference, ("variant",))]


def _setting_lines(rows: Sequence[Mapping[str, Any]], reference: str) -> list[str]:
    """Markdown: per setting, the mean over its runs with its interval over the test records, and the spread
    between the runs; then the paired differences of the means to the reference's setting."""
    def spread(row: Mapping[str, Any], task: str) -> str:
        s = (row["spread"].get("instructuie") or {}).get(task)
        return "–" if s is None else f"{100 * s['sd']:.1f} ({100 * s['min']:.1f}–{100 * s['max']:.1f})"

    lines = ["## Settings, over their runs", "",
             "A setting is a variant and the variants that repeat it (`replicate_of`: another seed). Mean F1 over "
             "its runs (InstructUIE's evaluator, strict in brackets) with the 95 % bootstrap interval of that mean "
             "over the test records; `between runs`: the standard deviation of the runs' InstructUIE F1 and their "
             "range, the training noise that no interval over test records covers. A difference smaller than it "
             "is not evidence, whatever its interval.", "",
             "| setting | runs | NER | NER between runs | RE | RE between runs | EE | EE between runs |",
             "| --- | --- |" + " ---: |" * 6]
    for r in rows:
        cells = [f"{_scores_cell({'ours': r['instructuie'], **r}, t)} | {spread(r, t)}" for t in ("ner", "re", "ee")]
        lines.append(f"| {r['setting']} | {len(r['runs'])} | " + " | ".join(cells) + " |")
    return [*lines, "", *_differences(rows, reference, ("setting", "runs"), "setting")]


def markdown(data: Mapping[str, Any]) -> str:
    from eval.report import table6_lines

    lines = [f"# Study `{data['study']}`", "",
             "Ours: F1 in % on the recipe's benchmark with InstructUIE's evaluator (`strict` in brackets), each with "
             "its 95 % bootstrap interval over the test records (eval/METRICS.md, \"Uncertainty\"); EE is the "
             "mean of trigger and argument F1 (the paper gives one EE number and does not define it). Paper: "
             "Qwen3-4B on the 36 IE_INSTRUCTIONS datasets.", ""]
    for table, title in (("table5", "Table 5: stage-wise ablation"), ("table7", "Table 7: reward granularity")):
        if table not in data:
            continue
        lines += [f"## {title}", "", "| row | variant | NER ours | NER paper | RE ours | RE paper | EE ours | "
                  "EE paper |", "| --- | --- |" + " ---: |" * 6]
        for r in data[table]:
            cells = [f"{_scores_cell(r, t)} | {(r['paper'] or {}).get(t, '–')}" for t in ("ner", "re", "ee")]
            lines.append(f"| {r['row']} | {r['variant']} | " + " | ".join(cells) + " |")
        lines += ["", *_differences(data[table], data["reference"])]
    if "variants_table" in data:
        lines += _variant_lines(data["variants_table"], data["reference"])
    if "settings" in data:
        ref = next(r["setting"] for r in data["settings"] if data["reference"] in r["runs"])
        lines += _setting_lines(data["settings"], ref)
    if "table6" in data:
        ours = data["table6"]["ours"]
        unit = next(iter(ours.values()))["unit"] if ours else "tokens"
        lines += [f"## Table 6: output length of generated outputs ({unit}; min / mean / max at or below each "
                  "percentile)", "",
                  *table6_lines(("setting", "benchmark"),
                                [(setting, [f"{setting} (`{row['model']}`)", row["benchmark"]], row["lengths"])
                                 for setting, row in ours.items()], data["table6"]["paper"])]
        lines.append("")
    return "\n".join(lines)


def _plot_rows(rows: Sequence[Mapping[str, Any]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eval.report import error_bars

    with_paper = any(r["paper"] for r in rows)  # a study of the user's own has no paper bars
    shift, width = (0.2, 0.4) if with_paper else (0.0, 0.6)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), sharey=True)
    for ax, task in zip(axes, ("ner", "re", "ee")):
        xs = range(len(rows))
        ours = [100 * ((r["ours"] or {}).get(task) or 0) for r in rows]
        spans = [((r.get("intervals") or {}).get("instructuie") or {}).get(task) for r in rows]
        ax.bar([x - shift for x in xs], ours, width, label="ours (95 % interval)", yerr=error_bars(ours, spans),
               capsize=2)
        if with_paper:
            ax.bar([x + shift for x in xs], [(r["paper"] or {}).get(task) or 0 for r in rows], width, label="paper")
        ax.set_xticks(list(xs), [r["row"] for r in rows], rotation=30, ha="right", fontsize=7)
        ax.set_title(task.upper())
    axes[0].set_ylabel("F1 (%)")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_table6(table6: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, task in zip(axes, ("re", "ee")):
        labels, ours, paper = [], [], []
        for setting, row in table6["ours"].items():
            buckets = row["lengths"].get(task) or {}
            for p in ("P50", "P70", "P99"):
                labels.append(f"{setting} {p}")
                ours.append(buckets.get(p, {}).get("mean", 0))
                paper.append((table6["paper"].get(task, {}).get(setting, {}).get(p.lower()) or [0, 0, 0])[1])
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], ours, 0.4, label="ours (mean)")
        ax.bar([x + 0.2 for x in xs], paper, 0.4, label="paper (mean)")
        ax.set_xticks(list(xs), labels, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{task.upper()} output length")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(root: Path, variants: Sequence[Variant], study: Mapping[str, Any]) -> dict[str, Any]:
    """``study.json``, ``study.md`` and ``<table>.png`` per table of the study (``variants.png`` for a study without
    table5/table7), in the study folder."""
    from eval.report import compact_json

    data = report_data(variants, study)
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.json").write_text(compact_json(data) + "\n", encoding="utf-8")
    (root / "study.md").write_text(markdown(data), encoding="utf-8")
    for table, title in (("table5", "Table 5: stage-wise ablation"), ("table7", "Table 7: reward granularity")):
        if table in data:
            _plot_rows(data[table], title, root / f"{table}.png")
    if "variants_table" in data:
        _plot_rows(data["variants_table"], f"study {data['study']}", root / "variants.png")
    if "table6" in data and data["table6"]["ours"]:
        _plot_table6(data["table6"], root / "table6.png")
    return data
