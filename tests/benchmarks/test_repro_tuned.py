"""benchmarks/repro_tuned.py and its recipe: repro_balanced's CM stages shared, SA and DE changed, and the published
run's paired differences against repro_balanced's models of the same stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import repro_balanced, repro_tuned
from launch.compose import compose_recipe
from launch.driver import execute_plan
from launch.plan import build_plan
from launch.run_dir import output_sha256, write_done
from tests.benchmarks.test_repro_balanced import _played_reports
from tests.helpers.recording_executor import RecordingExecutor

CM = ("cm_ner", "cm_ner_re", "cm_all")


def _fingerprints(experiment: str, tmp_path: Path) -> dict[str, str]:
    plan = build_plan(compose_recipe([f"+experiment={experiment}", f"pipeline.run_dir={tmp_path / experiment}"]))
    return {s.name: s.fingerprint for s in plan.stages}


def test_the_recipe_shares_repro_balanceds_cm_stages_and_changes_sa_and_every_de_stage(tmp_path):
    assert repro_tuned.BASELINE == repro_balanced.EXPERIMENT
    ours, theirs = _fingerprints(repro_tuned.EXPERIMENT, tmp_path), _fingerprints(repro_tuned.BASELINE, tmp_path)
    assert [s for s in ours if ours[s] == theirs.get(s)] == [*CM, "eval_cm_ner", "eval_cm_all"]
    cfg = compose_recipe([f"+experiment={repro_tuned.EXPERIMENT}"])
    assert cfg["stages"]["sa"]["mixture"] == {"ner": 192, "re": 512, "ee": 192}  # merged over repro_small's, replaced
    assert {s: (cfg["stages"][s]["count"], cfg["stages"][s]["epochs"]) for s in ("de_ner", "de_re", "de_ee")} == {
        "de_ner": (16, 4), "de_re": (16, 4), "de_ee": (16, 4)}


def all_right(report: dict) -> dict:
    """A played report (``_played_reports``) with every record right on the same records: F1 1.0, not 0.75."""
    for d in report["datasets"]:
        n = len(d["scores"]["strict"]["records"]["tp"])
        d["scores"]["strict"] = {"score": 1.0, "records": {"tp": [1] * n, "n_pred": [1] * n, "n_gold": [1] * n}}
    report["averages"] = {"ner/strict": 1.0}
    return report


def _better_reports(run_dir: Path) -> None:
    """The reports of the models this run trained (SA and final; the others are the baseline's, linked) on the
    played test sets, every record right."""
    _played_reports(run_dir, ("eval_sa", "eval"))
    for stage in ("eval_sa", "eval"):
        path = run_dir / stage / "output" / "report.json"
        path.write_text(json.dumps(all_right(json.loads(path.read_text()))))


def _smoke_run_plan(runs: Path, *overrides: str):
    """The smoke recipe planned with the script's pipeline settings (run folder, repro_balanced's linked)."""
    return build_plan(compose_recipe(["+experiment=smoke", *overrides,
                                      *(c for c in repro_tuned.command(runs, "x") if c.startswith("pipeline."))]))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Both runs of the smoke recipe where the scripts put them (backends played); this run's SA changed, so its CM
    stages and their evaluations are linked from the baseline's and its SA and final models score higher."""
    runs = tmp_path_factory.mktemp("runs")
    models = "pipeline.eval.models=[cm_ner,cm_all,sa,final]"
    base = build_plan(compose_recipe(["+experiment=smoke", f"pipeline.run_dir={runs / repro_tuned.BASELINE}", models]))
    execute_plan(base, RecordingExecutor())
    _played_reports(base.run_dir)
    for done in base.run_dir.glob("eval*/DONE"):  # the played reports as the stages' finished output
        marker = json.loads(done.read_text())
        write_done(done.parent, marker["fingerprint"],
                   {**marker["results"], "output_sha256": output_sha256(done.parent / "output")})
    ours = _smoke_run_plan(runs, models, "stages.sa.epochs=2")
    execute_plan(ours, RecordingExecutor())
    _better_reports(ours.run_dir)
    out = tmp_path_factory.mktemp("docs")
    return ours, repro_tuned.publish(runs, out, None).read_text()


def test_the_cm_stages_and_their_evaluations_are_the_baselines(published):
    plan, _ = published
    for stage in (*CM, "eval_cm_ner", "eval_cm_all"):
        assert (plan.run_dir / stage).is_symlink()
    assert not (plan.run_dir / "sa").is_symlink()


def test_only_the_models_this_run_trained_are_paired_against_the_baseline(published):
    _, text = published
    section = text.split("## Against repro_balanced")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[:2] for row in rows] == [["| sa", "sa (repro_balanced)"],
                                                     ["| de_ee", "de_ee (repro_balanced)"]]
    ner_strict = rows[0].split(" | ")[2]
    assert ner_strict.startswith("+25.0 [") and ner_strict.endswith("*")  # 1.0 - 0.75, every resample above 0
    assert "repro_tuned: repro_balanced with NER in SA's mixture" in text
    [shown] = [line for line in text.splitlines() if line.startswith("    python launch/run_pipeline.py")]
    assert shown.endswith("/repro_balanced]") and "+experiment=repro_tuned" in shown


def test_without_the_baselines_run_folder_the_section_says_nothing_was_paired(tmp_path):
    """A machine with no repro_balanced run (its CM stages then run in this run): published, nothing paired."""
    runs = tmp_path / "runs"
    plan = _smoke_run_plan(runs, "pipeline.eval.models=[cm_ner,cm_all,sa,final]")
    execute_plan(plan, RecordingExecutor())
    _played_reports(plan.run_dir)
    assert not any((plan.run_dir / stage).is_symlink() for stage in CM)
    text = repro_tuned.publish(runs, tmp_path / "docs", None).read_text()
    section = text.split("## Against repro_balanced\n")[1].split("\n## ")[0]
    assert section.strip().startswith("Not paired: `repro_balanced/` was not in the runs folder")
    assert not [line for line in section.splitlines() if line.startswith("| ")]
