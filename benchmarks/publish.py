"""What the published runs (``mini_run.py``, ``repro_small.py``, ``data_scaling.py``, ``re_scaling.py``) write the
same way: the machine, stage times and a study's report."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def machine(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, object]:
    """The machine a published run ran on (its numbers are this machine's: a CPU with bf16 hardware trains in bf16
    autocast where the recipe asks ``${cpu_bf16:}``, another in fp32, and the two train different models)."""
    import torch

    from launch.compose import cpu_bf16

    try:
        info = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        info = ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), None)
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)), "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(), "cpu": model, "cpu_bf16": cpu_bf16(cpuinfo)}


def stage_time_rows(summary: Mapping[str, Any]) -> tuple[list[str], float]:
    """Markdown rows ``| stage | status | seconds |`` of a run's ``summary.json`` and the sum of its stages."""
    rows = [f"| {r['stage']} | {r.get('status', '')} | {r.get('seconds', 0):.0f} |" for r in summary["stages"]]
    return rows, sum(r.get("seconds", 0) for r in summary["stages"])


def run_time(summary: Mapping[str, Any], wall: float | None) -> tuple[list[str], float, str]:
    """A one-command run's time table (``| stage | status | seconds |``, the command's wall time where measured, the
    sum of the stages), and the seconds its time target is checked on with what they are."""
    rows, stages = stage_time_rows(summary)
    lines = ["| stage | status | seconds |", "| --- | --- | ---: |", *rows,
             *([f"| **total (this command)** | | {wall:.0f} |"] if wall is not None else []),
             f"| **sum of the stages** | | {stages:.0f} |"]
    return (lines, wall, "the command") if wall is not None else (lines, stages, "sum of the stages; republished")


def rel(path: str | Path) -> str:
    """A path as the published files name it: relative to the repository."""
    return os.path.relpath(path, REPO)


def study_variants(study_dir: Path) -> dict[str, Path]:
    """The variant run folders of a finished study, in the study's order."""
    data = json.loads((study_dir / "study.json").read_text(encoding="utf-8"))
    return {name: Path(v["run_dir"]) for name, v in data["variants"].items()}


def copy_study(study_dir: Path, out: Path) -> None:
    """The study's report into ``out``, its run folders named relative to the repository."""
    out.mkdir(parents=True, exist_ok=True)
    data = json.loads((study_dir / "study.json").read_text(encoding="utf-8"))
    for v in data["variants"].values():
        v["run_dir"] = rel(v["run_dir"])
    (out / "study.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    for path in [study_dir / "study.md", *sorted(study_dir.glob("*.png"))]:
        shutil.copyfile(path, out / path.name)


def add_data_root(parser: argparse.ArgumentParser) -> None:
    """``--data-root``: the folder of the bundled sources' full downloads (``data=originals``)."""
    parser.add_argument("--data-root", help="the folder of the full downloads (data/README.md, data=originals)")


def data_root(args: argparse.Namespace) -> str:
    """``--data-root``, required to run (not to ``--publish-only``)."""
    if not args.data_root:
        args.error("--data-root is required to run (or --publish-only)")
    return args.data_root


def run_and_publish(argv: Sequence[str] | None, description: str, out: Path, walls_name: str,
                    commands: Callable[[Path, argparse.Namespace], Mapping[str, list[str]]],
                    publish: Callable[[Path, Path, Mapping[str, float] | None], Path],
                    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None) -> int:
    """The command line of a published run: run each pipeline command (timed; the walls kept in ``--runs`` for
    ``--publish-only``), then publish into ``--out`` and print what was written. ``commands`` may call
    ``parser.error`` through ``args.error`` for a missing argument."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", default=str(REPO / "runs"), help="where the study folders go")
    parser.add_argument("--out", default=str(out))
    parser.add_argument("--publish-only", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.error = parser.error
    runs = Path(args.runs).resolve()
    walls_file = runs / walls_name
    if not args.publish_only:
        walls = {}
        for name, command in commands(runs, args).items():
            start = time.monotonic()
            subprocess.run([sys.executable, *command], cwd=REPO, check=True)
            walls[name] = time.monotonic() - start
        walls_file.write_text(json.dumps(walls) + "\n", encoding="utf-8")
    walls = json.loads(walls_file.read_text(encoding="utf-8")) if walls_file.is_file() else None
    print(publish(runs, Path(args.out), walls).read_text(encoding="utf-8"))
    return 0


def one_run_main(argv: Sequence[str] | None, doc: str, experiment: str,
                 command: Callable[[Path, str], list[str]],
                 publish: Callable[[Path, Path, Mapping[str, float] | None], Path]) -> int:
    """``run_and_publish`` for a script of one pipeline command on the full downloads (``command(runs, data
    root)``), published into ``docs/<experiment>/``, its wall time kept in ``<runs>/<experiment>-walls.json``."""
    return run_and_publish(argv, doc.split("\n\n")[0], REPO / "docs" / experiment, f"{experiment}-walls.json",
                           lambda runs, args: {experiment: command(runs, data_root(args))}, publish, add_data_root)


# issue #22: the final model's strict micro-F1 (%) on the in-domain test records
F1_TARGETS = {"ner": 30.0, "re": 20.0, "ee_trigger": 50.0, "ee_argument": 35.0}

DE_TREND_INTRO = ("Mean reward of the first and last 20 % of optimizer steps, their difference and its 95 % Welch "
                  "interval over per-step means (launch/engines/grpo_curves.py); where a stage visits its prompts "
                  "more than once, the same prompts' mean reward at their last visit minus their first, with its "
                  "paired 95 % interval over prompts (launch/engines/grpo_records.py); curves per stage in `curves/`.")


def de_stages(runs: Iterable[tuple[Mapping[str, str], Path]]) -> list[dict[str, Any]]:
    """Every DE stage that trained in ``runs`` (``(labels, run folder)`` pairs), once (a linked stage is the one it
    links to), with the labels of the run that ran it."""
    seen: set[Path] = set()
    found = []
    for labels, run_dir in runs:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        for row in summary["stages"]:
            if not row.get("curves"):
                continue
            real = (run_dir / row["stage"]).resolve()
            if real not in seen:
                seen.add(real)
                found.append({**labels, "stage": row["stage"], "dir": real, "trend": row.get("reward_trend"),
                              "prompt_trend": row.get("prompt_trend")})
    return found


def trend_cells(trend: Mapping[str, Any] | None) -> tuple[str, bool]:
    """``first | last | gain [interval]`` of a reward trend, and whether the gain's interval lies above 0."""
    if not trend:
        return "– | – | –", False
    ci = trend.get("gain_ci95")
    span = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
    return (f"{trend['first_mean']:+.3f} | {trend['last_mean']:+.3f} | {trend['gain']:+.3f}{span}",
            bool(ci) and ci[0] > 0)


def prompt_trend_cell(trend: Mapping[str, Any] | None) -> str:
    """``gain [interval] (n prompts)`` of the same prompts' last visit minus their first, or ``–`` (one visit)."""
    if not trend:
        return "–"
    low, high = trend["gain_ci95"] or (None, None)
    span = f" [{low:+.3f}, {high:+.3f}]" if low is not None else ""
    return f"{trend['gain']:+.3f}{span} ({trend['prompts']} prompts)"


def de_trend_table(stages: Sequence[Mapping[str, Any]], labels: Sequence[str], curves: Path,
                   name: Callable[[Mapping[str, Any]], str]) -> tuple[list[str], list[bool]]:
    """The DE table, a row per stage of ``de_stages`` (its ``labels`` columns first), each stage's curves copied into
    ``curves`` as ``name(stage)``.json/.png; and per stage whether its reward's gain lies above 0."""
    curves.mkdir(parents=True, exist_ok=True)
    lines = ["| " + " | ".join([*labels, "stage", "steps", "first", "last", "last - first [95 %]",
                                "same prompts: last - first visit [95 %]", "curves"]) + " |",
             "| " + " | ".join(["---"] * (len(labels) + 1) + ["---:"] * 5 + ["---"]) + " |"]
    rising = []
    for de in stages:
        file = name(de)
        for suffix in ("json", "png"):
            source = de["dir"] / f"curves.{suffix}"
            if source.is_file():
                shutil.copyfile(source, curves / f"{file}.{suffix}")
        cells, up = trend_cells(de["trend"])
        rising.append(up)
        steps = (de["trend"] or {}).get("steps", "–")
        lines.append("| " + " | ".join([*(str(de[k]) for k in labels), de["stage"], str(steps), cells,
                                        prompt_trend_cell(de["prompt_trend"]), f"[{file}.png](curves/{file}.png)"])
                     + " |")
    return lines, rising


def target_lines(final: Mapping[str, Any], rising: Sequence[bool], seconds: float, what: str,
                 time_target: float) -> list[str]:
    """Issue #22's targets on a final model's progression row, its DE stages' trends and the run's time: one line
    each, PASS or FAIL (measured, never asserted in a test)."""
    lines = []
    for metric, target in F1_TARGETS.items():
        score = final["scores"]["strict"][metric]
        span = (final["intervals"]["strict"] or {}).get(metric)
        ours = "–" if score is None else f"{100 * score:.2f}"
        if span:
            ours += f" [{100 * span[0]:.2f}, {100 * span[1]:.2f}]"
        ok = score is not None and 100 * score >= target
        lines.append(f"- {metric}: final {ours} vs at least {target:.0f} -> {'PASS' if ok else 'FAIL'}")
    lines += [f"- DE reward rises (interval of last - first above 0): {sum(rising)} of {len(rising)} stages -> "
              f"{'PASS' if rising and all(rising) else 'FAIL'}",
              f"- time: {seconds:.0f} s ({what}) vs at most {time_target:.0f} s -> "
              f"{'PASS' if seconds <= time_target else 'FAIL'}"]
    return lines


def stage_manifest(stage_dir: Path) -> dict[str, Any]:
    """An SFT or GRPO stage's data manifest (converters.stages): its seed and rows per task and source dataset."""
    from converters.stages import MANIFEST
    from launch.stage import DATA

    return json.loads((stage_dir / DATA / MANIFEST).read_text(encoding="utf-8"))


def train_counts(manifest: Mapping[str, Any], task: str) -> dict[str, int]:
    """Rows per source dataset of one task in a stage's manifest."""
    return {key.split("/")[0]: n for key, n in manifest["tasks"][task]["counts"].items()}
