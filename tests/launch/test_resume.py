"""Resuming after an input changed: the stages that read the changed input rerun, with every stage after them;
the stages before them stay cached.

Inputs are the source data files, the base model, a stage's data request and eval's benchmark files (the code a
stage runs: tests/launch/test_plan.py). The recipe is the smoke one reading copies of its inputs: the bundled train
records as canonical JSONL files (one per task), and a copy of the tiny model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from converters.readers import read_source
from converters.stages import file_sha256, resolve_spec
from launch.compose import compose_recipe
from launch.driver import execute_plan
from launch.plan import build_plan, expand_sources
from tests.helpers.recording_executor import RecordingExecutor

REPO = Path(__file__).resolve().parents[2]
SMOKE = ["+experiment=smoke"]
TRAIN = ["cm_ner", "cm_ner_re", "cm_all", "sa", "de_ner", "de_re", "de_ee"]
FIRST_READER = {"ner": "cm_ner", "re": "cm_ner_re", "ee": "cm_all"}  # the first stage whose mixture draws the task


@pytest.fixture
def inputs(tmp_path: Path, tiny_model_dir: Path) -> dict[str, Path]:
    """Copies of the smoke recipe's inputs: ``{ner, re, ee}`` source files and ``model``."""
    paths = {}
    for task, specs in expand_sources(compose_recipe(SMOKE)["data"]["sources"]).items():
        records = [record for spec in specs for record in read_source(resolve_spec(spec))]
        paths[task] = tmp_path / "data" / f"{task}.jsonl"
        paths[task].parent.mkdir(exist_ok=True)
        paths[task].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    paths["model"] = tmp_path / "model"
    shutil.copytree(tiny_model_dir, paths["model"])
    return paths


def plan_on(inputs: dict[str, Path], run_dir: Path, *overrides: str):
    cfg = compose_recipe([*SMOKE, f"pipeline.run_dir={run_dir}", *overrides])
    cfg["model"]["name_or_path"] = str(inputs["model"])
    cfg["data"]["sources"] = {task: [{"format": "canonical", "path": str(inputs[task])}] for task in FIRST_READER}
    return build_plan(cfg)


def fingerprints(inputs: dict[str, Path], run_dir: Path, *overrides: str) -> dict[str, str]:
    return {s.name: s.fingerprint for s in plan_on(inputs, run_dir, *overrides).stages}


def check_reruns(inputs: dict[str, Path], run_dir: Path, changed_names: list[str], first: str) -> None:
    """The training stages from ``first`` on rerun, the ones before stay cached, and so do the evaluations of their
    models (the base model's evaluation also follows run-wide settings such as the last training style)."""
    stages = plan_on(inputs, run_dir).stages
    rerun = TRAIN[TRAIN.index(first):]
    assert [n for n in changed_names if n in TRAIN] == rerun
    for s in stages:
        if s.kind == "eval" and s.input_stage is not None:
            assert (s.name in changed_names) == (s.input_stage in rerun), s.name


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    assert list(after) == list(before)
    return [name for name in before if after[name] != before[name]]


def drop_last_record(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")


@pytest.mark.parametrize("task", ["ner", "re", "ee"])
def test_a_changed_source_file_reruns_the_stages_from_its_first_reader_on(tmp_path, inputs, task):
    before = fingerprints(inputs, tmp_path / "run")
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == []
    drop_last_record(inputs[task])
    check_reruns(inputs, tmp_path / "run", changed(before, fingerprints(inputs, tmp_path / "run")), FIRST_READER[task])


def test_a_base_model_saved_again_with_the_same_bytes_reruns_nothing_and_changed_bytes_rerun_every_stage(
        tmp_path, inputs):
    before = fingerprints(inputs, tmp_path / "run")
    weights = inputs["model"] / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # converted again: same bytes, newer
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == []
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    everything = list(before)
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == everything
    (inputs["model"] / "generation_config.json").unlink()
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == everything


@pytest.mark.parametrize(("override", "first"), [
    ("stages.de_re.count=6", "de_re"),
    ("stages.cm_all.mixture.ee=20", "cm_all"),
    ("stages.sa.style=cm", "sa"),
    ("seed=7", "cm_ner"),
    ("format_profile=paper", "cm_ner"),
])
def test_a_changed_data_request_reruns_that_stage_and_every_later_one(tmp_path, inputs, override, first):
    before = fingerprints(inputs, tmp_path / "run")
    check_reruns(inputs, tmp_path / "run", changed(before, fingerprints(inputs, tmp_path / "run", override)), first)


def test_a_changed_benchmark_file_reruns_eval_only(tmp_path, inputs, monkeypatch):
    import launch.plan

    root = tmp_path / "code"
    for folder in ("converters", "rewards", "eval", "recipes/benchmark"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(launch.plan, "REPO_ROOT", root)
    before = fingerprints(inputs, tmp_path / "run")
    catalog = root / "recipes" / "benchmark" / "catalog.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    evals = [s.name for s in plan_on(inputs, tmp_path / "run").stages if s.kind == "eval"]
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == evals and "eval" in evals


def test_the_driver_reruns_exactly_the_stages_a_changed_source_file_feeds(tmp_path, inputs):
    run_dir = tmp_path / "run"
    first = RecordingExecutor()
    execute_plan(plan_on(inputs, run_dir), first)
    assert first.ran == [s.name for s in plan_on(inputs, run_dir).stages]
    drop_last_record(inputs["ee"])
    again = RecordingExecutor()
    rows = execute_plan(plan_on(inputs, run_dir), again)
    check_reruns(inputs, run_dir, again.ran, "cm_all")
    assert "eval_base" not in again.ran and again.ran[0] == "cm_all"
    assert [r["status"] for r in rows][:2] == ["cached", "cached"]
    manifest = json.loads((run_dir / "cm_all" / "data" / "manifest.json").read_text())
    ee_files = [f for source in manifest["tasks"]["ee"]["sources"] for f in source["files"]]
    assert ee_files == [{"path": str(inputs["ee"]), "sha256": file_sha256(inputs["ee"])}]  # rebuilt from the new file
