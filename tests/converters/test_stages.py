"""Stage data builders: exact seeded mixtures, determinism, oversampling, manifests, LLaMA-Factory/GRPO shape."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from converters.format import render_prompt, render_target
from converters.records import RecordError, record_from_answer
from converters.stages import build_grpo_stage, build_sft_stage, draw_copies, file_sha256

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

    for style, profile in (("cm", "default"), ("sa", "paper")):
        out = tmp_path / style
        build_sft_stage("s", {"ner": 20, "re": 20, "ee": 20}, SOURCES, out, style=style, profile=profile, seed=1)
        by_id = {r["id"]: r for name in ("ncbi", "crossner_ai", "semeval", "phee")
                 for r in bundled_records(name, "train")}
        lines = (out / "s.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines:
            row = json.loads(line)
            rec = by_id[row["id"]]
            assert row["instruction"] == render_prompt(rec, style, profile)
            assert row["output"] == render_target(rec, style, profile)
            assert line == json.dumps(row, ensure_ascii=False)  # the hand-joined row is exactly json.dumps


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
    index_of = {}
    for row in _rows(tmp_path / "train.jsonl"):  # copies of one record share its pool index
        assert index_of.setdefault(row["extra_info"]["id"], row["extra_info"]["index"]) == row["extra_info"]["index"]
    assert sorted(index_of.values()) == list(range(200))


def test_grpo_rows_and_prompt_identity(tmp_path: Path) -> None:
    from converters.bundled import bundled_records

    pool_ids = [r["id"] for r in bundled_records("phee", "train")]
    sft = build_sft_stage("sa", {"ee": 40}, SOURCES, tmp_path / "sft", style="sa", seed=5)
    grpo = build_grpo_stage("de_ee", "ee", 40, {"ee": EE}, tmp_path / "grpo", seed=5)
    assert grpo["style"] == "sa" and grpo["task"] == "ee"
    sft_rows = {r["id"]: r for r in _rows(tmp_path / "sft/sa.jsonl")}
    grpo_rows = _rows(tmp_path / "grpo/train.jsonl")
    assert {r["extra_info"]["id"] for r in grpo_rows} == set(sft_rows)  # same seed, same task: same draw
    for row in grpo_rows:
        assert set(row) == {"prompt", "answer", "data_source", "reward_model", "extra_info"}
        assert row["prompt"] == sft_rows[row["extra_info"]["id"]]["instruction"]
        assert row["reward_model"] == {"style": "rule", "ground_truth": row["answer"]}
        assert pool_ids[row["extra_info"]["index"]] == row["extra_info"]["id"] and row["data_source"] == "phee"
        rec = record_from_answer(row["answer"])
        assert render_target(rec, "sa") == sft_rows[rec["id"]]["output"]
    assert sft["outputs"][0]["rows"] == grpo["rows"] == 40
    indices = [r["extra_info"]["index"] for r in grpo_rows]
    assert indices == sorted(set(indices))  # pool order, each drawn record once


def test_manifest_records_inputs_and_skips(tmp_path: Path) -> None:
    good = {"id": "q1", "dataset": "slots", "task": "ner", "text": "fly to Paris", "labels": ["city"],
            "entities": [{"type": "city", "text": "Paris"}]}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(good) + "\n{broken\n" + json.dumps({**good, "id": "q2"}) + "\n")
    spec = {"format": "canonical", "path": str(src), "split": "train"}
    with pytest.raises(RecordError, match=r"in\.jsonl:2: field '<json>': invalid JSON"):
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


@pytest.mark.parametrize(("pool", "count"), [(20, 5), (20, 0), (20, 20), (7, 23), (1, 4)])
def test_draw_copies_is_exact(pool: int, count: int) -> None:
    for seed in range(30):
        copies = list(draw_copies(pool, count, random.Random(seed)))
        assert len(copies) == pool and sum(copies) == count
        assert set(copies) <= {count // pool, count // pool + 1}


def test_draw_copies_is_uniform() -> None:
    """Each of 20 records is picked in about 5/20 of 4,000 seeded draws of 5 (binomial sd ~27)."""
    picked = Counter()
    for seed in range(4000):
        picked.update(i for i, n in enumerate(draw_copies(20, 5, random.Random(seed))) if n)
    assert all(abs(picked[i] - 1000) < 150 for i in range(20)), picked


def test_interleaved_datasets_are_counted_per_row(tmp_path: Path) -> None:
    """One canonical file mixing two datasets: per-dataset counts follow the drawn rows exactly."""
    src = tmp_path / "mixed.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        for i in range(30):
            fh.write(json.dumps({"id": f"r{i}", "dataset": "ab"[i % 3 == 0], "task": "ner", "text": "fly to Paris",
                                 "labels": ["city"], "entities": [{"type": "city", "text": "Paris"}]}) + "\n")
    spec = {"format": "canonical", "path": str(src), "split": "train"}
    for count in (12, 30, 45):
        m = build_sft_stage("s", {"ner": count}, {"ner": [spec]}, tmp_path / str(count), seed=2)
        rows = _rows(tmp_path / str(count) / "s.jsonl")
        by_dataset = Counter("b" if int(r["id"][1:]) % 3 == 0 else "a" for r in rows)
        assert m["tasks"]["ner"]["counts"] == {f"{d}/train": n for d, n in sorted(by_dataset.items())}
        assert len(rows) == count


def test_spools_are_removed_also_after_a_failure(tmp_path: Path) -> None:
    build_sft_stage("s", {"ner": 10, "re": 10}, SOURCES, tmp_path / "ok", seed=0)
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["dataset_info.json", "manifest.json", "s.jsonl"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "dataset": "d", "task": "ner", "text": "t", "labels": [], "entities": 1}\n')
    with pytest.raises(RecordError, match="bad.jsonl:1"):
        build_sft_stage("s", {"ner": 1}, {"ner": [{"format": "canonical", "path": str(bad)}]}, tmp_path / "ko", seed=0)
    assert list((tmp_path / "ko").iterdir()) == []


def test_whole_pool_tasks_match_a_drawn_copy(tmp_path: Path) -> None:
    """A task taking its whole pool (renamed or block-copied spool) gives the rows a line-by-line draw would."""
    pool = build_sft_stage("p", {"re": 1}, SOURCES, tmp_path / "probe", seed=0)["tasks"]["re"]["pool"]
    alone = build_sft_stage("s", {"re": pool}, SOURCES, tmp_path / "alone", seed=0)
    mixed = build_sft_stage("s", {"ner": 3, "re": pool}, SOURCES, tmp_path / "mixed", seed=0)
    alone_rows = _rows(tmp_path / "alone/s.jsonl")
    assert alone_rows == _rows(tmp_path / "mixed/s.jsonl")[3:]
    assert alone["tasks"]["re"]["counts"] == mixed["tasks"]["re"]["counts"] == {"semeval/train": pool}
    assert alone["outputs"][0]["sha256"] == file_sha256(tmp_path / "alone/s.jsonl")


def test_progress_prints_a_summary_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    build_sft_stage("cm_mix", {"ner": 5, "re": 7}, SOURCES, tmp_path, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "sft cm_mix: records read" in err  # the tqdm bar
    assert "stage cm_mix (sft, seed 0, 12 rows)" in err and "semeval/train" in err and "ncbi/train" in err


def test_grpo_parquet_holds_the_jsonl_rows(tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    from datasets import load_dataset

    for fmt in ("jsonl", "parquet"):
        m = build_grpo_stage("de_re", "re", 30, {"re": RE}, tmp_path / fmt, seed=4, file_format=fmt)
        assert m["outputs"][0]["file"] == f"train.{fmt}" and m["outputs"][0]["rows"] == 30
        assert m["outputs"][0]["sha256"] == file_sha256(tmp_path / fmt / f"train.{fmt}")
        assert sorted(p.name for p in (tmp_path / fmt).iterdir()) == ["manifest.json", f"train.{fmt}"]
    assert pq.read_table(tmp_path / "parquet/train.parquet").to_pylist() == _rows(tmp_path / "jsonl/train.jsonl")
    # how EasyR1 and verl open a local parquet file
    loaded = load_dataset("parquet", data_files=str(tmp_path / "parquet/train.parquet"), split="train",
                          cache_dir=str(tmp_path / "hf_cache"))
    assert loaded.column_names == ["prompt", "answer", "data_source", "reward_model", "extra_info"]
    assert loaded[0]["reward_model"]["ground_truth"] == loaded[0]["answer"]
    with pytest.raises(ValueError, match="file_format"):
        build_grpo_stage("x", "re", 1, {"re": RE}, tmp_path / "bad", seed=0, file_format="csv")


def test_max_records_caps_a_source_in_the_pool(tmp_path: Path) -> None:
    """A capped source contributes its first N records to the pool; the others are untouched."""
    from converters.readers import read_source
    from converters.stages import resolve_spec

    capped = [{**NER[0], "max_records": 20}, *NER[1:]]
    m = build_sft_stage("stage", {"ner": 10}, {"ner": capped}, tmp_path, seed=7)
    pools = {s["spec"]["dataset"]: s["pool"] for s in m["tasks"]["ner"]["sources"]}
    full = sum(1 for _ in read_source(resolve_spec(NER[1])))
    assert pools == {NER[0]["bundled"]: 20, NER[1]["bundled"]: full} and m["tasks"]["ner"]["pool"] == 20 + full
    first = [r["text"] for r in read_source(resolve_spec(NER[0]))][:20]
    assert [r["text"] for r in read_source(resolve_spec(capped[0]))] == first
    for bad in (0, -1, 2.5, True, "20"):
        with pytest.raises(ValueError, match=r"NCBI-disease-IOB/train\.tsv: 'max_records' must be a positive"):
            read_source(resolve_spec({**NER[0], "max_records": bad}))
