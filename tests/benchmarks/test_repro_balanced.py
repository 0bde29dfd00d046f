"""benchmarks/repro_balanced.py and its recipe: the balanced CM-NER pool on the real downloads, and the published run
(training rows per stage, NER per test set with intervals, the DE curves, the targets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import repro_balanced
from converters.stages import build_sft_stage
from launch.compose import compose_recipe
from launch.driver import execute_plan
from launch.plan import build_plan, expand_sources
from tests.helpers.inputs import upstream_input
from tests.helpers.recording_executor import RecordingExecutor

DE = ("de_ner", "de_re", "de_ee")


def test_on_the_real_downloads_cm_ner_draws_every_crossner_sentence_and_the_first_324_of_ncbi(tmp_path):
    root = upstream_input("originals")
    cfg = compose_recipe([f"+experiment={repro_balanced.EXPERIMENT}", f"data.root={root}"])
    assert cfg["data"]["sources"]["ner"][0]["max_records"] == 324
    manifest = build_sft_stage("cm_ner", cfg["stages"]["cm_ner"]["mixture"], expand_sources(cfg["data"]["sources"]),
                               tmp_path, seed=cfg["seed"])
    # data/README.md: CrossNER holds 100 train sentences in AI, literature and music, 200 in politics and science
    assert manifest["tasks"]["ner"]["counts"] == {
        "ncbi/train": 324, "crossner_ai/train": 100, "crossner_literature/train": 100, "crossner_music/train": 100,
        "crossner_politics/train": 200, "crossner_science/train": 200}


def _played_reports(run_dir: Path, stages: tuple[str, ...] = ()) -> None:
    """Each eval stage's report (or those of ``stages``) with per-record NER counts: set ``half`` half right
    (F1 0.5), ``all`` all right."""
    for report_path in run_dir.glob("eval*/output/report.json"):
        if stages and report_path.parent.parent.name not in stages:
            continue
        report = json.loads(report_path.read_text())

        def dataset(key: str, rows: list) -> dict:
            score = 2 * sum(r[0] for r in rows) / sum(r[1] + r[2] for r in rows)
            part = {"score": score, "records": {k: [r[i] for r in rows] for i, k in
                                                enumerate(("tp", "n_pred", "n_gold"))}}
            return {"key": key, "task": "ner", "records_id": f"ids-{key}", "scores": {"strict": part},
                    "validity": {"n": len(rows), "parsed_rate": 1.0, "valid_rate": 1.0}}

        report["datasets"] = [dataset("half", [(1, 1, 1), (0, 1, 1)] * 10), dataset("all", [(1, 1, 1)] * 5)]
        report["averages"] = {"ner/strict": 0.75}  # what run_benchmark averages: the two sets' unweighted mean
        report_path.write_text(json.dumps(report))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The smoke recipe with the experiment's evaluated models, run where the script's command puts it (backends
    played), then published."""
    runs = tmp_path_factory.mktemp("runs")
    run_dir = next(c for c in repro_balanced.command(runs, "x") if c.startswith("pipeline.run_dir"))
    models = compose_recipe([f"+experiment={repro_balanced.EXPERIMENT}"])["pipeline"]["eval"]["models"]
    plan = build_plan(compose_recipe(["+experiment=smoke", run_dir, f"pipeline.eval.models=[{','.join(models)}]"]))
    execute_plan(plan, RecordingExecutor())
    _played_reports(plan.run_dir)
    out = tmp_path_factory.mktemp("docs")
    return plan, out, repro_balanced.publish(runs, out, None).read_text()


def test_it_lists_what_each_sft_stage_trained_on_from_its_manifest(published):
    plan, _, text = published
    manifest = json.loads((plan.run_dir / "cm_all" / "data" / "manifest.json").read_text())
    for task, info in manifest["tasks"].items():
        counts = {k.split("/")[0]: n for k, n in info["counts"].items()}
        assert (f"| cm_all | {task} | {', '.join(f'{k} {n}' for k, n in counts.items())} | "
                f"{sum(counts.values())} |") in text
    assert not any(line.startswith(("| de_", "| eval")) and "rows" in line for line in text.splitlines())


def test_every_evaluated_model_gets_its_ner_score_per_test_set_with_an_interval(published):
    _, _, text = published
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines()
            if line.startswith(("| cm_ner |", "| cm_all |", "| sa |", "| de_ee |")) and "[" in line}
    assert list(rows) == ["cm_ner", "cm_all", "sa", "de_ee"]
    half, every = rows["cm_ner"].strip("| ").split(" | ")[1:]
    low, high = (float(x) for x in half.removeprefix("50.0 [").removesuffix("]").split(", "))
    assert low < 50.0 < high  # 20 records, half right: the interval spans the score
    assert every == "100.0 [100.0, 100.0]"  # every record right: no resample scores less


def test_the_de_stages_curves_are_copied_and_the_targets_checked_on_the_final_model(published):
    _, out, text = published
    assert sorted(p.name for p in (out / "curves").glob("*.json")) == sorted(f"{s}.json" for s in DE)
    assert [line.split(" | ")[0][2:] for line in text.splitlines() if "](curves/" in line] == list(DE)
    [ner] = [line for line in text.splitlines() if line.startswith("- ner: final")]
    assert ner.startswith("- ner: final 75.00 [") and ner.endswith("] vs at least 30 -> PASS")
    assert "(sum of the stages; republished)" in text
    assert (out / "progression.md").is_file() and (out / "progression.png").is_file()


def test_running_needs_the_data_root(tmp_path, capsys):
    with pytest.raises(SystemExit):
        repro_balanced.main(["--runs", str(tmp_path)])
    assert "--data-root is required" in capsys.readouterr().err
