"""Executes a plan: validate every stage, then per stage build data, write config, run, verify, mark DONE.

Order of work for a stage that is not already DONE with the same fingerprint:

1. remove a stale DONE; stop processes a killed driver left running for this stage;
2. if the last attempt had other inputs (STARTED fingerprint differs), empty the stage folder; otherwise keep
   its data and checkpoints so the attempt resumes; when another Python environment wrote the input model,
   normalise it and check it gives the same logits here (``launch.models.handoff``);
3. build the data (unless this attempt's data is complete), check it, write ``config.yaml``;
4. run the stage's command(s) through the executor, streaming the backend's progress to the status line;
5. convert/merge when the engine needs it, check the expected output exists, drop intermediate checkpoints;
6. write DONE (atomically, last).

Any failure raises :class:`StageFailed` naming the stage, the file to read and the fix; finished stages keep
their DONE, and the failed one has none, so the rerun starts exactly there.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from converters.stages import MANIFEST
from launch.engines import hf_output
from launch.engines.environment import ENGINE_ENVS, missing_env_hint
from launch.estimate import gpu_hours, throughput
from launch.models.handoff import ensure_handoff
from launch.plan import EVAL_STAGE, Plan, backend, missing_data_error
from launch.reuse import finished_stages, link_stage, verified
from launch.run_dir import (
    DONE,
    atomic_write_json,
    done_fingerprint,
    mark_started,
    output_sha256,
    read_json,
    reset_stage_dir,
    started_fingerprint,
    stop_leftover_processes,
    write_done,
)
from launch.stage import Executor, StageFailed, StageJob, StagePlan

DATA_COMPLETE = "COMPLETE"
SUMMARY = "summary.json"


def validate_plan(plan: Plan, dry_run: bool) -> dict[str, list[str]]:
    """Check every stage before anything runs; returns notes on what each check could not cover."""
    notes: dict[str, list[str]] = {}
    for stage in plan.stages:
        if stage.missing_sources and not dry_run:
            raise missing_data_error(stage)
        if stage.engine in ENGINE_ENVS and not dry_run and not Path(stage.python).exists():
            raise StageFailed(stage.name, stage.python, missing_env_hint(stage.engine, Path(stage.python)))
        notes[stage.name] = list(backend(stage.engine).validate(stage))
        if stage.missing_sources:
            notes[stage.name].append(f"{len(stage.missing_sources)} source(s) not found (data is not needed to plan)")
    first = plan.stages[0] if plan.stages else None
    if first is not None and not dry_run and not Path(first.input_model).exists() and not is_done(first):
        raise StageFailed(first.name, first.input_model,
                          "the base model folder does not exist; set model.name_or_path=<local checkpoint folder> "
                          "(the pipeline never downloads models)")
    return notes


def has_output(stage: StagePlan) -> bool:
    return backend(stage.engine).has_output(stage)


def is_done(stage: StagePlan) -> bool:
    return done_fingerprint(stage.stage_dir) == stage.fingerprint and has_output(stage)


def write_config(stage: StagePlan) -> None:
    stage.stage_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(stage.config, sort_keys=False, allow_unicode=True, width=120)
    stage.config_path.write_text(text, encoding="utf-8")


def build_data(stage: StagePlan) -> dict[str, Any] | None:
    """Build (or reuse, when this attempt already built it) the stage's dataset; returns its manifest."""
    if stage.data is None:
        return None
    marker = stage.data_dir / DATA_COMPLETE
    if marker.is_file():
        return read_json(stage.data_dir / MANIFEST)
    from converters.stages import build_grpo_stage, build_sft_stage

    request = {k: v for k, v in stage.data.items() if k != "builder"}
    builder = build_sft_stage if stage.data["builder"] == "sft" else build_grpo_stage
    try:
        manifest = builder(out_dir=stage.data_dir, progress=sys.stderr.isatty(), **request)  # bar + summary table
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise StageFailed(stage.name, stage.data_dir,
                          f"building the stage data failed: {err}. Fix data.sources or the stage's mixture") from err
    marker.write_text("", encoding="utf-8")
    return manifest


class StageRunner:
    """Runs the stages of one plan with one executor; prints a line per stage and a summary table."""

    def __init__(self, plan: Plan, executor: Executor, console: Console | None = None,
                 shared: Mapping[str, Path] | None = None) -> None:
        self.plan, self.executor = plan, executor
        self.console = console or Console(stderr=True)
        self.shared = dict(shared or {})  # fingerprint -> a finished stage elsewhere (launch.reuse)
        self.rows: list[dict[str, Any]] = []

    def _row(self, stage: StagePlan, results: Mapping[str, Any], status: str, **extra: Any) -> dict[str, Any]:
        """A summary row under this run's stage name (a shared stage's DONE names the run that made it)."""
        row = {**results, "stage": stage.name, "status": status, **extra}
        if stage.kind == "eval":
            row["evaluates"] = stage.spec["evaluates"]
        return row

    def _share(self, stage: StagePlan) -> Path | None:
        """Link the stage to an identical finished stage of another run, when there is one and it checks out."""
        source = self.shared.get(stage.fingerprint)
        if source is None or source == stage.stage_dir.resolve() or not verified(source, stage.fingerprint):
            return None
        link_stage(stage.stage_dir, source)
        return source

    def _run_job(self, job: StageJob, status: Callable[[str], None] | None = None) -> None:
        code = self.executor.run(job, on_line=status)
        if code != 0:
            raise StageFailed(job.stage, job.log_path,
                              f"`{' '.join(job.argv[:3])} ...` exited with code {code}; read the end of the log, fix "
                              f"the cause and rerun the same command (finished stages are kept)")

    def run_stage(self, stage: StagePlan) -> dict[str, Any]:
        """Run one stage to DONE and return its results."""
        engine = backend(stage.engine)
        if stage.stage_dir.is_symlink():  # it was another run's finished stage (launch.reuse): never write there
            stage.stage_dir.unlink()
        (stage.stage_dir / DONE).unlink(missing_ok=True)
        stop_leftover_processes(stage.stage_dir)
        resuming = started_fingerprint(stage.stage_dir) == stage.fingerprint
        if not resuming:
            reset_stage_dir(stage.stage_dir)
        mark_started(stage.stage_dir, stage.fingerprint)
        start = time.monotonic()
        handoff = ensure_handoff(stage, self.plan.stages)  # another environment wrote the input: same logits here?
        manifest = build_data(stage)
        engine.check_data(stage)
        write_config(stage)
        resume_from = engine.prepare(stage)
        data_seconds = time.monotonic() - start
        if resume_from is not None:
            self.console.print(f"  [yellow]{stage.name}: resuming from {resume_from}[/]")
        backend_start = time.monotonic()
        with self.console.status(f"{stage.name} starting") as status:
            def show(line: str) -> None:
                elapsed = time.monotonic() - start
                status.update(f"{stage.name} {elapsed:6.0f}s | {line.strip()[:100]}")

            for job in engine.jobs(stage):
                self._run_job(job, show)
        backend_seconds = time.monotonic() - backend_start
        finish_start = time.monotonic()
        engine.finish(stage, self._run_job)
        if not has_output(stage):
            raise StageFailed(stage.name, stage.log_path,
                              f"the backend exited 0 but left no model in {stage.output_dir}; read the log")
        if not self.plan.settings.pipeline.keep_checkpoints:
            hf_output.remove_checkpoints(stage.output_dir)
        results = {
            "stage": stage.name, "engine": stage.engine, "seconds": round(time.monotonic() - start, 2),
            "backend_seconds": round(backend_seconds, 2), "data_seconds": round(data_seconds, 2),
            "finish_seconds": round(time.monotonic() - finish_start, 2),
            "samples": manifest["rows"] if manifest else stage.samples, "checkpoint": str(stage.output_dir),
            "input_model": stage.input_model, "resumed_from": str(resume_from) if resume_from else None,
            "threads": stage.threads,
            "data_outputs": manifest.get("outputs") if manifest else None,
            "output_sha256": output_sha256(stage.output_dir), "handoff": handoff,
            **engine.results(stage),
        }
        write_done(stage.stage_dir, stage.fingerprint, results)
        return results

    def run(self) -> list[dict[str, Any]]:
        """Every stage in order; DONE stages with the same fingerprint are skipped."""
        self.console.print(f"[bold]run directory[/] {self.plan.run_dir}")
        for stage in self.plan.stages:
            if is_done(stage):
                results = read_json(stage.stage_dir / DONE)["results"]
                self.rows.append(self._row(stage, results, "cached"))
                self.console.print(f"[dim]= {stage.name:<10} cached (DONE, inputs unchanged)[/]")
                continue
            source = self._share(stage)
            if source is not None:
                results = read_json(stage.stage_dir / DONE)["results"]
                self.rows.append(self._row(stage, results, "shared", shared_from=str(source)))
                self.console.print(f"[dim]~ {stage.name:<10} shared: the same stage finished in {source}[/]")
                continue
            results = self.run_stage(stage)
            self.rows.append(self._row(stage, results, "ran"))
            self.console.print(f"[green]✓[/] {stage.name:<10} {results['seconds']:7.1f}s  {metric_text(results)}")
        return self.rows


def metric_text(results: Mapping[str, Any]) -> str:
    """The stage's headline numbers: final loss (SFT), mean reward (GRPO), strict averages (eval)."""
    parts = [f"{label} {results[key]:.4f}" for key, label in (("final_loss", "loss"), ("mean_reward", "mean reward"))
             if isinstance(results.get(key), float)]
    averages = results.get("averages") or {}
    parts += [f"{key.split('/')[0]} F1 {value:.2f}" for key, value in averages.items() if key.endswith("/strict")]
    return ", ".join(parts)


def summary_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="ProUIE pipeline")
    for column in ("stage", "status", "seconds", "samples", "loss / reward", "checkpoint"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["stage"], row.get("status", ""), f"{row.get('seconds', 0):.1f}", str(row.get("samples", "")),
                      metric_text(row), str(row.get("checkpoint", "")))
    return table


def print_dry_run(plan: Plan, notes: Mapping[str, list[str]], console: Console) -> None:
    """The plan, every command and config (each also written to ``<stage>/config.yaml``), and GPU-hour estimates
    for the recipe's cluster."""
    gpu_type, rate = throughput(plan.settings)
    cluster = plan.settings.cluster
    gpus = max(cluster.gpus_per_node * cluster.nnodes, 1)
    table = Table(title=f"plan: {plan.run_dir}")
    for column in ("stage", "engine", "input", "samples", "epochs", "n", "GPU-h", "wall h"):
        table.add_column(column)
    total = 0.0
    for stage in plan.stages:
        hours = gpu_hours(stage)
        total += hours or 0.0
        table.add_row(stage.name, stage.engine, stage.input_stage or stage.input_model, str(stage.samples),
                      str(stage.epochs or ""), str(stage.rollout_n or ""),
                      f"{hours:.1f}" if hours is not None else "-", f"{hours / gpus:.2f}" if hours is not None else "-")
    console.print(table)
    console.print(f"estimated total: {total:.1f} GPU-hours = {total / gpus:.1f} h on {gpus} x {gpu_type}; "
                  f"assumed tokens/s per GPU {dict(rate)}; model: launch/estimate.py, numbers: recipe 'estimate'")
    for stage in plan.stages:
        console.rule(f"{stage.name} ({stage.engine})")
        for job in backend(stage.engine).jobs(stage):
            env = " ".join(f"{k}={v}" for k, v in job.env.items() if k not in ("PATH", "PYTHONPATH"))
            console.print(f"$ {env} {' '.join(job.argv)}", markup=False, soft_wrap=True)
        write_config(stage)
        console.print(f"# {stage.config_path} (written)", markup=False)
        console.print(yaml.safe_dump(stage.config, sort_keys=False, width=120), markup=False, end="")
        for note in notes.get(stage.name, []):
            console.print(f"# validated; note: {note}", markup=False)


def trains_whole_method(plan: Plan) -> bool:
    """Whether the run's final model is Table 5's ProUIE row: no stage skipped, and the stages it trains include CM,
    SA and DE (a run of ``pipeline.order=[cm_ner]`` skips nothing, yet its final model is a CM model)."""
    if set(plan.settings.pipeline.skip) - {EVAL_STAGE}:
        return False
    sft_styles = {s.spec.get("style", "cm") for s in plan.stages if s.kind == "sft"}
    return {"cm", "sa"} <= sft_styles and any(s.kind == "grpo" for s in plan.stages)


def execute_plan(plan: Plan, executor: Executor, console: Console | None = None,
                 reuse: Sequence[str | Path] = ()) -> list[dict[str, Any]]:
    """Validate, run, summarise; writes ``<run>/summary.json`` with the timings the overhead benchmark reads.

    Finished stages of the runs in ``pipeline.reuse`` and ``reuse`` with a stage's fingerprint are linked instead
    of rerun (``launch.reuse``)."""
    console = console or Console(stderr=True)
    start = time.monotonic()
    validate_plan(plan, dry_run=False)
    validate_seconds = time.monotonic() - start
    shared = finished_stages([*plan.settings.pipeline.reuse, *reuse])
    runner = StageRunner(plan, executor, console, shared)
    rows = runner.run()
    console.print(summary_table(rows))
    total = time.monotonic() - start
    full_run = trains_whole_method(plan)
    atomic_write_json(plan.run_dir / SUMMARY, {"validate_seconds": round(validate_seconds, 2), "stages": rows,
                                               "total_seconds": round(total, 2), "full_run": full_run})
    console.print(f"total {total:.0f} s (this invocation; cached stages cost nothing)")
    if any(row.get("evaluates") for row in rows):
        from eval import progression

        paths = progression.write(progression.from_summary(plan.run_dir), plan.run_dir)
        console.print(paths["markdown"].read_text(encoding="utf-8"), markup=False)
        console.print(f"[bold]progression[/] {paths['markdown']} and {paths['plot'].name}")
    return rows
