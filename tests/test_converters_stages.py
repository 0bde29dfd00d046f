"""Stage data builders: exact seeded mixtures, determinism, oversampling, manifests, LLaMA-Factory/GRPO shape."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from converters.format import render_prompt, render_target
from converters.records import record_from_answer
from converters.stages import build_grpo_stage, build_sft_stage

NER = [{"bundled": "ncbi", "split": "train"}, {"bundled": "crossner_ai", "split": "train"}]
RE = [{"bundled": "semeval", "split": "train"}]
EE = [{"bundled": "phee", "split": "train"}]
SOURCES = {"ner": NER, "re": RE, "ee": EE}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(("mixture", "by_dataset"), [
    ({"ner": 40, "re": 160}, None),
    ({"ner": 30, "re": 30, "ee": 40}, None),
    ({"re": 90, "ee": 90}, {"semeval": 90, "phee": 90}),
])
def test_mixture_counts_are_exact(tmp_path: Path, mixture: dict, by_dataset: dict | None) -> None:
    style = "sa" if by_dataset else "cm"
    m = build_sft_stage("stage", mixture, SOURCES, tmp_path, style=style, seed=7)
    rows = _rows(tmp_path / "stage.jsonl")
    assert len(rows) == m["rows"] == sum(mixture.values())
    assert {t: info["requested"] for t, info in m["tasks"].items()} == mixture
    assert {t: sum(info["counts"].values()) for t, info in m["tasks"].items()} == mixture
    if by_dataset:
        assert Counter(r["id"].split("/")[0] for r in rows) == by_dataset
    assert not m["oversampled_tasks"]
    ner_ids = [r["id"] for r in rows if r["id"].split("/")[0] in ("ncbi", "crossner_ai")]
    assert len(ner_ids) == len(set(ner_ids)) == mixture.get("ner", 0)  # without replacement
    assert set(rows[0]) == {"instruction", "output", "id"}
    assert m["outputs"][0]["rows"] == len(rows) and m["style"] == style and m["seed"] == 7


def test_rows_are_rendered_records(tmp_path: Path) -> None:
    from converters.bundled import bundled_records

    build_sft_stage("s", {"re": 20}, SOURCES, tmp_path, seed=1)
    by_id = {r["id"]: r for r in bundled_records("semeval", "train")}
    for row in _rows(tmp_path / "s.jsonl"):
        rec = by_id[row["id"]]
        assert row["instruction"] == render_prompt(rec, "cm") and row["output"] == render_target(rec, "cm")


def test_seed_determinism(tmp_path: Path) -> None:
    mix = {"ner": 50, "re": 50}
    a = build_sft_stage("s", mix, SOURCES, tmp_path / "a", seed=3)
    b = build_sft_stage("s", mix, SOURCES, tmp_path / "b", seed=3)
    c = build_sft_stage("s", mix, SOURCES, tmp_path / "c", seed=4)
    assert a["outputs"][0]["sha256"] == b["outputs"][0]["sha256"] != c["outputs"][0]["sha256"]
    assert (tmp_path / "a/s.jsonl").read_bytes() == (tmp_path / "b/s.jsonl").read_bytes()
    assert (tmp_path / "a/manifest.json").read_text() == (tmp_path / "b/manifest.json").read_text()
    # a task's draw does not depend on the other tasks of the mixture
    d = build_sft_stage("s", {"ner": 50}, SOURCES, tmp_path / "d", seed=3)
    ner_a = [r["id"] for r in _rows(tmp_path / "a/s.jsonl")][:50]
    assert ner_a == [r["id"] for r in _rows(tmp_path / "d/s.jsonl")] and d["rows"] == 50


def test_oversampling_is_flagged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        m = build_grpo_stage("de_ee", "ee", 450, {"ee": EE}, tmp_path, seed=0)
    assert m["oversampled_tasks"] == ["ee"] and m["tasks"]["ee"]["oversampled"]
    assert m["tasks"]["ee"]["pool"] == 200 and m["tasks"]["ee"]["repeats_of_every_record"] == 2
    assert "oversampling" in caplog.text
    ids = Counter(r["extra_info"]["id"] for r in _rows(tmp_path / "train.jsonl"))
    assert sum(ids.values()) == 450 and len(ids) == 200 and set(ids.values()) == {2, 3}
    assert sum(1 for n in ids.values() if n == 3) == 50


def test_grpo_rows_and_prompt_identity(tmp_path: Path) -> None:
    sft = build_sft_stage("sa", {"ee": 40}, SOURCES, tmp_path / "sft", style="sa", seed=5)
    grpo = build_grpo_stage("de_ee", "ee", 40, {"ee": EE}, tmp_path / "grpo", seed=5)
    assert grpo["style"] == "sa" and grpo["task"] == "ee"
    sft_rows = {r["id"]: r for r in _rows(tmp_path / "sft/sa.jsonl")}
    grpo_rows = _rows(tmp_path / "grpo/train.jsonl")
    assert {r["extra_info"]["id"] for r in grpo_rows} == set(sft_rows)  # same seed, same task: same draw
    for i, row in enumerate(grpo_rows):
        assert set(row) == {"prompt", "answer", "data_source", "reward_model", "extra_info"}
        assert row["prompt"] == sft_rows[row["extra_info"]["id"]]["instruction"]
        assert row["reward_model"] == {"style": "rule", "ground_truth": row["answer"]}
        assert row["extra_info"]["index"] == i and row["data_source"] == "phee"
        rec = record_from_answer(row["answer"])
        assert render_target(rec, "sa") == sft_rows[rec["id"]]["output"]
    assert sft["outputs"][0]["rows"] == grpo["rows"] == 40


def test_manifest_records_inputs_and_skips(tmp_path: Path) -> None:
    good = {"id": "q1", "dataset": "slots", "task": "ner", "text": "fly to Paris", "labels": ["city"],
            "entities": [{"type": "city", "text": "Paris"}]}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(good) + "\n{broken\n" + json.dumps({**good, "id": "q2"}) + "\n")
    spec = {"format": "canonical", "path": str(src), "split": "train"}
    with pytest.raises(Exception, match="in.jsonl:2"):
        build_sft_stage("s", {"ner": 2}, {"ner": [spec]}, tmp_path / "strict", seed=0)
    m = build_sft_stage("s", {"ner": 2}, {"ner": [spec]}, tmp_path / "lenient", seed=0, strict=False)
    assert m["skipped_count"] == 1 and m["skipped"][0]["where"] == f"{src}:2" and m["skipped"][0]["field"] == "<json>"
    source = m["tasks"]["ner"]["sources"][0]
    assert source["files"][0]["path"] == str(src) and len(source["files"][0]["sha256"]) == 64
    assert source["pool"] == 2 and m["tasks"]["ner"]["counts"] == {"slots/train": 2}
    on_disk = json.loads((tmp_path / "lenient/manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(m))


def test_bad_plans_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no sources for task"):
        build_sft_stage("s", {"ee": 1}, {"ner": NER}, tmp_path, seed=0)
    with pytest.raises(ValueError, match="gave a 'ner' record"):
        build_sft_stage("s", {"re": 1}, {"re": NER}, tmp_path, seed=0)


def test_dataset_info_loads_in_llamafactory(tmp_path: Path) -> None:
    from llamafactory.data.parser import get_dataset_list

    build_sft_stage("cm_ner_re", {"ner": 4, "re": 16}, SOURCES, tmp_path, seed=0)
    (attr,) = get_dataset_list(["cm_ner_re"], str(tmp_path))
    assert attr.load_from == "file" and attr.dataset_name == "cm_ner_re.jsonl"
    assert attr.formatting == "alpaca" and attr.prompt == "instruction" and attr.response == "output"
    assert attr.query is None  # no "input" column needed: the user turn is exactly the instruction
    from llamafactory.data.converter import get_dataset_converter
    from llamafactory.hparams import DataArguments

    convert = get_dataset_converter("alpaca", attr, DataArguments(dataset_dir=str(tmp_path)))
    row = _rows(tmp_path / "cm_ner_re.jsonl")[0]
    example = convert(row)
    assert example["_prompt"] == [{"role": "user", "content": row["instruction"]}]
    assert example["_response"] == [{"role": "assistant", "content": row["output"]}]
