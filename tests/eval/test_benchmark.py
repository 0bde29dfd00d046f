"""Benchmarks end to end: catalogue, run_benchmark over the smoke benchmark, reports, user inference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from converters.format import render_target, target_order
from converters.readers import ie_instructions as ie
from converters.records import gold_units
from converters.stages import build_sft_stage
from eval import bootstrap
from eval.benchmarks import describe, load_catalog, resolve
from eval.infer import extract
from eval.infer import main as infer_main
from eval.intervals import counts
from eval.predict import build_prompt, load_tokenizer
from eval.report import load_paper_results
from eval.run_benchmark import CONFIG_DIR, run_benchmark
from tests.helpers.ie_tree import write_ie_tree


def test_catalogue_matches_the_paper_tables() -> None:
    catalog, paper = load_catalog(), load_paper_results()
    ner = resolve("ner", catalog)
    assert len(ner) == 25 and len(resolve("re", catalog)) == 8 and len(resolve("ee", catalog)) == 3
    assert {d.paper_key for d in ner} == set(paper["table1_ner"]) - {"avg"}
    assert {d.paper_key for d in ner if d.ood} == {"Movie", "Restaurant", "AI", "Literature", "Music", "Politics",
                                                   "Science"}
    assert {d.paper_key for d in resolve("re")} == set(paper["table2_re"]) - {"avg"}
    assert [d.key for d in resolve("ncbi")] == ["ncbi"]
    assert len(resolve("all")) == 36
    with pytest.raises(ValueError, match="unknown benchmark or dataset 'nre'"):
        resolve("nre")
    with pytest.raises(ValueError, match="set data_dir"):
        resolve("ncbi")[0].source_spec(None)
    # the paper's average row is the mean of its dataset rows (checks the transcription)
    for table in ("table1_ner", "table2_re"):
        rows = [v for k, v in paper[table].items() if k != "avg"]
        assert sum(rows) / len(rows) == pytest.approx(paper[table]["avg"], abs=0.01)


def test_a_benchmark_is_described_by_where_its_test_sets_come_from() -> None:
    catalog = load_catalog()
    assert describe("smoke") == "8 datasets, the bundled test slices of data/"
    assert describe("ner") == "25 datasets, IE_INSTRUCTIONS test sets" and describe("ncbi") == "1 dataset, " \
        "IE_INSTRUCTIONS test sets"
    mixed = {**catalog, "benchmarks": {**catalog["benchmarks"], "mixed": ["ncbi", "bundled_ncbi"]}}
    assert describe("mixed", mixed) == "2 datasets, test sets of several kinds"
    assert describe("originals") == "8 datasets, the bundled sources' full test splits"
    assert describe("toy") == "not in the catalogue"


def _oracle(style: str, template: str, model_dir: Path):
    tokenizer = load_tokenizer(str(model_dir))
    targets = {build_prompt(r, template, tokenizer, style): render_target(r, style)
               for d in resolve("smoke") for r in d.records(None)}
    return lambda prompts: [(targets[p], 7) for p in prompts]


def test_run_benchmark_smoke_with_gold_outputs(tiny_model_dir: Path, tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("default", overrides=[f"model={tiny_model_dir}", f"out_dir={tmp_path}", "limit=30",
                                            "recipe_hash=abc123"])
    report = run_benchmark(cfg, generator=_oracle("sa", "qwen3_nothink", tiny_model_dir))
    assert [d["key"] for d in report["datasets"]] == [d.key for d in resolve("smoke")]
    for d in report["datasets"]:
        strict = d["scores"]["strict"]
        parts = [strict["trigger"], strict["argument"]] if d["task"] == "ee" else [strict]
        assert all(p["f1"] == 1.0 for p in parts) and d["validity"]["valid_rate"] == 1.0
        assert d["n"] == 30
    assert report["averages"]["ner/strict"] == 1.0 and report["averages"]["re/instructuie"] == 1.0
    # InstructUIE's trigger accuracy compares whole answers: on a record with several events a perfect answer
    # counts only when our target lists them in the annotation's order (the real test sets hold one event each)
    phee = [r for d in resolve("smoke") if d.key == "bundled_phee" for r in d.records(None)][:30]
    in_order = sum([(e["type"], e["trigger"]) for e in r["events"]] == [
        (e.type, e.trigger) for e in target_order(gold_units(r), list(r["labels"]), r["text"]).events] for r in phee)
    assert 0 < in_order < 30 and report["averages"]["ee_trigger/instructuie"] == pytest.approx(in_order / 30)
    assert report["recipe_hash"] == "abc123" and report["length_unit"] == "tokens"
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["scorers"] == ["strict", "instructuie"] and saved["model"] == str(tiny_model_dir)
    # every score with its bootstrap interval over the records (per-record counts kept, one line per count list)
    phee = next(d for d in saved["datasets"] if d["key"] == "bundled_phee")
    trigger = phee["scores"]["instructuie"]["trigger"]
    assert trigger["interval"] == list(bootstrap.interval([counts(trigger)]))
    assert trigger["interval"][0] < trigger["score"] < trigger["interval"][1] == 1.0
    assert sum(trigger["records"]["tp"]) == in_order and len(trigger["records"]["tp"]) == 30
    assert saved["average_intervals"]["ee_trigger/instructuie"] == trigger["interval"]  # one dataset, same resamples
    assert saved["average_intervals"]["ner/strict"] == [1.0, 1.0] and saved["bootstrap"]["n_resamples"] == 1000
    assert '"n_gold": [1, ' in (tmp_path / "report.json").read_text()
    md = (tmp_path / "report.md").read_text()
    assert "| ncbi-disease (`bundled_ncbi`) | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] | 86.95 | " \
           "+13.0 [13.0, 13.0]* |" in md
    assert "| AI* (`bundled_crossner_ai`) | 100.0 [100.0, 100.0] |" in md
    assert "## Table 4: EE argument (F1, %)" in md
    assert "| PHEE (`bundled_phee`) | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] | 71.86 | +28.1 [28.1, 28.1]* |" in md
    low = 100 * trigger["interval"][0]
    assert f"| PHEE (`bundled_phee`) | {100 * trigger['score']:.1f} [{low:.1f}, 100.0] | 100.0 [100.0, 100.0] |" in md
    for png in ("scores.png", "lengths.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checks = (tmp_path / "predictions" / "bundled_semeval.checks.jsonl").read_text().splitlines()
    assert len(checks) == 30 and json.loads(checks[0])["valid"] is True
    # a second run finds every prediction on disk and generates nothing
    again = run_benchmark(cfg, generator=lambda prompts: pytest.fail("nothing should be generated"))
    assert again["datasets"] == report["datasets"]


def test_per_dataset_limits_replace_the_limit(tiny_model_dir: Path, tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("default", overrides=[f"model={tiny_model_dir}", f"out_dir={tmp_path}", "limit=3",
                                            "+limits.bundled_semeval=5", "scorers=[strict]"])
    report = run_benchmark(cfg, generator=_oracle("sa", "qwen3_nothink", tiny_model_dir))
    assert {d["key"]: d["n"] for d in report["datasets"]} == {
        d.key: 5 if d.key == "bundled_semeval" else 3 for d in resolve("smoke")}
    cfg.limits = {"bundled_semevl": 5}
    with pytest.raises(ValueError, match=r"limits: 'bundled_semevl' is not a dataset of benchmark 'smoke'"):
        run_benchmark(cfg, generator=lambda prompts: pytest.fail("nothing should be generated"))


def test_extract_parses_and_checks_outputs(tiny_model_dir: Path) -> None:
    outputs = iter([('{"person": "Anna", "location": "Rome"}', 9), ('{"city": "Oslo"}', 5)])
    got = extract(["Anna lives in Rome .", "Bob likes Oslo ."], "ner", ["person", "location"], tiny_model_dir,
                  generator=lambda prompts: [next(outputs) for _ in prompts])
    assert got[0]["entities"] == [{"type": "person", "text": "Anna"}, {"type": "location", "text": "Rome"}]
    assert got[0]["valid"] is True
    assert got[1]["valid"] is False and got[1]["reasons"] == ["unknown slot 'city'"]
    with pytest.raises(ValueError, match="EE labels must be an object"):
        extract(["x"], "ee", ["attack"], tiny_model_dir, generator=lambda p: [])


def test_infer_cli_reads_jsonl(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "The soldier fired ."}) + "\n"
                   + json.dumps({"text": "Nothing .", "labels": {"die": ["victim"]}}) + "\n")
    assert infer_main(["--model", str(tiny_model_dir), "--task", "ee", "--labels", '{"attack": ["attacker"]}',
                       "--input", str(src), "--max-new-tokens", "4"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["The soldier fired .", "Nothing ."]
    assert all(r["task"] == "ee" and isinstance(r["events"], list) and "valid" in r for r in rows)


def test_report_names_data_policies_and_label_mismatches(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The real layout's anomalies reach the report beside the numbers; so does a label trained under another
    spelling (a model trained on the bundled CrossNER, asked for IE_INSTRUCTIONS' 'organisation')."""
    tree = write_ie_tree(tmp_path / "tree")
    trained = build_sft_stage("cm", {"ner": 20}, {"ner": [{"bundled": "crossner_music", "split": "train"}]},
                              tmp_path / "run" / "cm" / "data", seed=0)
    assert "organization" in trained["labels"]["ner"]["crossner_music"]
    tokenizer = load_tokenizer(str(tiny_model_dir))
    targets = {build_prompt(r, "qwen3_nothink", tokenizer, "sa"): render_target(r, "sa")
               for d in resolve("all") for r in d.records(tree)}
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("default", overrides=[f"model={tiny_model_dir}", f"out_dir={tmp_path / 'eval'}",
                                            "benchmark=all", f"data_dir={tree}",
                                            f"train_manifests=[{tmp_path / 'run'}]"])
    report = run_benchmark(cfg, generator=lambda prompts: [(targets[p], 3) for p in prompts])
    by_key = {d["key"]: d for d in report["datasets"]}
    assert report["train_manifests"] == [str(tmp_path / "run" / "cm" / "data" / "manifest.json")]
    kbp37 = by_key["kbp37"]
    assert kbp37["scores"]["strict"]["f1"] == 1.0 and kbp37["scores"]["instructuie"]["f1"] < 1.0
    assert kbp37["read"]["dropped"] == {ie.EMPTY_SIDE: 1}
    music = by_key["crossner_music"]
    assert music["label_check"] == ["asks for 'organisation'; the model was trained on 'organization' (spelling; "
                                    "crossner_music)"]
    md = (tmp_path / "eval" / "report.md").read_text()
    kbp_row = next(line for line in md.splitlines() if line.startswith("| kbp37 (`kbp37`)"))
    mark = kbp_row.rsplit("|", 2)[1].strip()
    assert mark.startswith("[") and f"{mark} `kbp37`: 1 × {ie.EMPTY_SIDE}: {ie.EMPTY_SIDE_SCORING}" in md
    assert f"| `crossner_music` | repaired | 2 | {ie.added_label('type', 'organisation')} |" in md
    assert "`crossner_music`: labels: asks for 'organisation'" in md
    assert "| `broad_twitter` |" not in md  # the test split has no anomaly (the empty sentence is in dev)
