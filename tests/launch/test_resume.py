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
ORDER = ["cm_ner", "cm_ner_re", "cm_all", "sa", "de_ner", "de_re", "de_ee", "eval"]
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
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == ORDER[ORDER.index(FIRST_READER[task]):]


def test_a_rewritten_base_model_reruns_every_stage(tmp_path, inputs):
    before = fingerprints(inputs, tmp_path / "run")
    weights = inputs["model"] / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # saved again: same bytes, newer
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == ORDER
    (inputs["model"] / "generation_config.json").unlink()
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == ORDER


@pytest.mark.parametrize(("override", "reruns"), [
    ("stages.de_re.count=6", ["de_re", "de_ee", "eval"]),
    ("stages.cm_all.mixture.ee=20", ORDER[2:]),
    ("stages.sa.style=cm", ORDER[3:]),
    ("seed=7", ORDER),
    ("format_profile=paper", ORDER),
])
def test_a_changed_data_request_reruns_that_stage_and_every_later_one(tmp_path, inputs, override, reruns):
    before = fingerprints(inputs, tmp_path / "run")
    assert changed(before, fingerprints(inputs, tmp_path / "run", override)) == reruns


def test_a_changed_benchmark_file_reruns_eval_only(tmp_path, inputs, monkeypatch):
    import launch.plan

    root = tmp_path / "code"
    for folder in ("converters", "rewards", "eval", "recipes/benchmark"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(launch.plan, "REPO_ROOT", root)
    before = fingerprints(inputs, tmp_path / "run")
    catalog = root / "recipes" / "benchmark" / "catalog.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert changed(before, fingerprints(inputs, tmp_path / "run")) == ["eval"]


def test_the_driver_reruns_exactly_the_stages_a_changed_source_file_feeds(tmp_path, inputs):
    run_dir = tmp_path / "run"
    first = RecordingExecutor()
    execute_plan(plan_on(inputs, run_dir), first)
    assert first.ran == ORDER
    drop_last_record(inputs["ee"])
    again = RecordingExecutor()
    rows = execute_plan(plan_on(inputs, run_dir), again)
    assert again.ran == ORDER[2:]
    assert [r["status"] for r in rows][:2] == ["cached", "cached"]
    manifest = json.loads((run_dir / "cm_all" / "data" / "manifest.json").read_text())
    ee_files = [f for source in manifest["tasks"]["ee"]["sources"] for f in source["files"]]
    assert ee_files == [{"path": str(inputs["ee"]), "sha256": file_sha256(inputs["ee"])}]  # rebuilt from the new file
