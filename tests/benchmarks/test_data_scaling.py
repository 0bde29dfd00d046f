"""benchmarks/data_scaling.py publishes a scaling study (CM on NER; re_scaling.py: SA on RE): its report, and per
variant what it trained on and scored."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from benchmarks import data_scaling
from eval.intervals import dataset_interval
from launch.study import execute_study, plan_study
from tests.helpers.recording_executor import RecordingExecutor
from tests.launch.test_study import _report_with_counts, study


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The study's first three variants and a seed replicate on the smoke recipe and data, backends played."""
    script = data_scaling.NER
    runs = tmp_path_factory.mktemp("runs")
    spec = study("data_scaling")
    spec = {**spec, "common": [c for c in spec["common"] if c not in ("data=originals", "pipeline.eval.limits=null")],
            "variants": {k: spec["variants"][k] for k in ("ner_256", "ner_512", "ner_256_s43")}}
    overrides = ["+experiment=smoke", next(c for c in script.command(runs, "x") if c.startswith("pipeline.run_dir"))]
    root, variants = plan_study(overrides, spec)
    execute_study(root, variants, RecordingExecutor(), Console(stderr=True, quiet=True), spec)
    for i, v in enumerate(variants):  # a played report with per-record counts, one NER and one EE set
        _report_with_counts(v.plan.run_dir / "eval" / "output" / "report.json", [(1, 1, 1), (0, 1, 1)] * (i + 1),
                            [(1, 1, 1)], [(1, 1, 1)])
    out = tmp_path_factory.mktemp("docs")
    return script, root, out, script.publish(runs, out, None).read_text()


def test_it_copies_the_report_with_its_settings_table(published):
    _, _, out, _ = published
    assert (out / "variants.png").is_file()
    assert "## Settings, over their runs" in (out / "study.md").read_text()
    data = json.loads((out / "study.json").read_text())
    assert [s["runs"] for s in data["settings"]] == [["ner_256", "ner_256_s43"], ["ner_512"]]
    assert not data["variants"]["ner_512"]["run_dir"].startswith("/")


def test_each_variant_row_gives_its_seed_training_rows_and_scores_per_test_set(published):
    script, root, _, text = published
    rows = {name: script.variant_row(root / name) for name in ("ner_256", "ner_512", "ner_256_s43")}
    assert [r["seed"] for r in rows.values()] == [42, 42, 43]
    assert sum(rows["ner_256"]["train"].values()) == 256 and sum(rows["ner_512"]["train"].values()) == 512
    manifest = json.loads((root / "ner_512" / "cm_ner" / "data" / "manifest.json").read_text())
    assert rows["ner_512"]["train"] == {k.split("/")[0]: n for k, n in manifest["tasks"]["ner"]["counts"].items()}
    report = json.loads((root / "ner_256" / "eval" / "output" / "report.json").read_text())
    first = report["datasets"][0]
    assert rows["ner_256"]["test"][first["key"]] == {"f1": first["scores"]["strict"]["score"],
                                                     "interval": dataset_interval(first["scores"]["strict"]),
                                                     "valid": first["validity"]["valid_rate"],
                                                     "n": first["validity"]["n"]}
    line = next(x for x in text.splitlines() if x.startswith("| ner_256_s43 | 43 | "))
    trained = sorted(rows["ner_256_s43"]["train"])
    assert line.split(" | ")[2:2 + len(trained)] == [str(rows["ner_256_s43"]["train"][d]) for d in trained]
    assert rows["ner_512"]["test"]["n"]["f1"] == 0.0  # the played parts' score, not recomputed
    assert list(rows["ner_512"]["test"]) == ["n"]  # the NER sets only
    low, high = rows["ner_256_s43"]["test"]["n"]["interval"]  # 6 records, every other one right
    assert 0.0 < low < 0.5 < high < 1.0
    assert "| n F1 (valid) |" in text and line.endswith(f" | 0.0 [{100 * low:.1f}, {100 * high:.1f}] (100 %) |")
    assert "(republished)" in text and "data.root=<originals>" in text


def test_running_needs_the_data_root(published):
    script, _, _, _ = published
    with pytest.raises(SystemExit):
        data_scaling.main(["--runs", "/nonexistent"])


def _re_report(path, rows: list) -> None:
    """The played report with one RE test set holding per-record counts (tp, n_pred, n_gold)."""
    report = json.loads(path.read_text())
    scores = {"score": 0.25, "records": {k: [r[i] for r in rows] for i, k in enumerate(("tp", "n_pred", "n_gold"))}}
    dataset = {"key": "s", "task": "re", "records_id": "ids-s", "validity": {"n": len(rows), "valid_rate": 0.5},
               "scores": {"strict": scores, "instructuie": scores}}
    path.write_text(json.dumps({**report, "datasets": [dataset]}))


def test_the_re_study_trains_sa_on_re_alone_from_the_cm_model_and_publishes_its_rows(tmp_path):
    """re_scaling on the smoke recipe and data, backends played: SA is the only training stage, it starts from the
    model the command names, draws only RE rows, and RUN.md gives each variant's RE rows and RE scores."""
    from benchmarks import re_scaling

    runs = tmp_path / "runs"
    spec = study("re_scaling")
    spec = {**spec, "common": [c for c in spec["common"] if c != "pipeline.eval.limits=null"],  # smoke has none
            # smoke's SA mixture has no NER key to zero
            "variants": {k: {"overrides": [o.replace("ner: 0, ", "") for o in spec["variants"][k]["overrides"]]}
                         for k in ("re_512", "re_1024")}}
    command = data_scaling.RE.command(runs, "x")
    assert command[:3] == ["launch/run_pipeline.py", "+experiment=repro_tuned", "+study=re_scaling"]
    assert f"model.name_or_path={runs / 'repro_tuned' / 'cm_all' / 'output'}" in command
    overrides = ["+experiment=smoke", next(c for c in command if c.startswith("pipeline.run_dir"))]
    root, variants = plan_study(overrides, spec)
    assert [[s.name for s in v.plan.stages] for v in variants] == [["sa", "eval"], ["sa", "eval"]]
    execute_study(root, variants, RecordingExecutor(), Console(stderr=True, quiet=True), spec)
    for v in variants:
        _re_report(v.plan.run_dir / "eval" / "output" / "report.json", [(1, 1, 2), (0, 1, 1)])
    text = data_scaling.RE.publish(runs, tmp_path / "docs", None).read_text()
    rows = {name: data_scaling.RE.variant_row(root / name) for name in ("re_512", "re_1024")}
    assert [sum(r["train"].values()) for r in rows.values()] == [512, 1024]
    manifest = json.loads((root / "re_512" / "sa" / "data" / "manifest.json").read_text())
    assert {task for task, m in manifest["tasks"].items() if sum(m["counts"].values())} == {"re"}
    assert rows["re_1024"]["test"]["s"]["f1"] == 0.25 and rows["re_1024"]["test"]["s"]["n"] == 2
    assert "python benchmarks/re_scaling.py --data-root <originals>" in text
    assert text.startswith("# re_scaling: SA on RE against training data at 135M")
    assert "| re_1024 | 42 | " in text and "| s F1 (valid) |" in text
    assert re_scaling.main.__module__ == "benchmarks.re_scaling"
