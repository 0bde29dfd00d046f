"""``data=originals``: the bundled sources' original downloads read through the bundled specs with a ``root``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from converters.bundled import BUNDLED, DATA_DIR, bundled_spec
from converters.readers import read_source
from converters.stages import resolve_spec
from launch.compose import compose_recipe
from tests.helpers.inputs import upstream_input

NCBI_TRAIN = "ncbi_disease/data/NCBI-disease-IOB/train.tsv"


def _originals_root(tmp_path: Path) -> Path:
    """A root in data/'s layout whose NCBI train file is the slice's train plus its test sentences (400, not 200)."""
    root = tmp_path / "originals"
    for name in BUNDLED:
        for split in BUNDLED[name]["splits"]:
            rel = BUNDLED[name]["splits"][split][0]
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DATA_DIR / rel, root / rel)
    test = (DATA_DIR / "ncbi_disease/data/NCBI-disease-IOB/test.tsv").read_text(encoding="utf-8")
    train = (DATA_DIR / NCBI_TRAIN).read_text(encoding="utf-8")
    (root / NCBI_TRAIN).write_text(train.rstrip("\n") + "\n\n" + test, encoding="utf-8")
    return root


def test_the_recipe_reads_every_source_under_its_root(tmp_path: Path) -> None:
    root = _originals_root(tmp_path)
    cfg = compose_recipe(["+experiment=mini", "data=originals", f"data.root={root}"])
    specs = [resolve_spec(s) for task in ("ner", "re", "ee") for s in cfg["data"]["sources"][task]]
    assert len(specs) == 8 and all(Path(s["path"]).is_relative_to(root) for s in specs)
    assert all("root" not in s for s in specs)  # the reader never sees the shortcut's key
    ncbi = next(s for s in specs if s["dataset"] == "ncbi")
    assert ncbi["labels"] == ["Disease"] and sum(1 for _ in read_source(ncbi)) == 400
    slice_ = resolve_spec({"bundled": "ncbi", "split": "train"})
    assert Path(slice_["path"]) == DATA_DIR / NCBI_TRAIN and sum(1 for _ in read_source(slice_)) == 200


def test_a_missing_original_names_the_file_and_the_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"'semeval'.*SemEval2010_task8_training/TRAIN_FILE\.TXT.*layout"):
        bundled_spec("semeval", "train", tmp_path)


def test_the_real_downloads_are_the_full_train_splits() -> None:
    root = upstream_input("originals")
    counts = {s: sum(1 for _ in read_source(resolve_spec({"bundled": s, "split": "train", "root": str(root)})))
              for s in ("ncbi", "crossner_ai", "crossner_politics", "semeval", "phee")}
    # data/README.md's sources: NCBI 5,424 train sentences, CrossNER 100 / 200, SemEval 8,000 minus every 10th
    # (its dev holdout), PHEE 2,898 sentences
    assert counts == {"ncbi": 5424, "crossner_ai": 100, "crossner_politics": 200, "semeval": 7200, "phee": 2898}


def test_the_originals_benchmark_reads_the_full_test_splits_under_data_dir(tmp_path: Path) -> None:
    from eval.benchmarks import resolve

    root = _originals_root(tmp_path)
    test = root / "ncbi_disease/data/NCBI-disease-IOB/test.tsv"
    test.write_text(test.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + (root / NCBI_TRAIN).read_text(
        encoding="utf-8"), encoding="utf-8")  # 200 test + 400 train sentences
    ncbi = {d.key: d for d in resolve("originals")}["original_ncbi"]
    assert len(ncbi.records(root)) == 600 and len(resolve("bundled_ncbi")[0].records(root)) == 200
    with pytest.raises(ValueError, match=r"'original_ncbi' is the full test split .*set data_dir"):
        ncbi.records(None)
    with pytest.raises(FileNotFoundError, match=r"'phee' split 'test' under root"):
        {d.key: d for d in resolve("originals")}["original_phee"].records(tmp_path)


def test_the_real_full_test_splits_hold_the_bundled_test_slices() -> None:
    from eval.benchmarks import resolve

    root = upstream_input("originals")
    full = {d.bundled: [r["text"] for r in d.records(root)] for d in resolve("originals")}
    assert {k: len(v) for k, v in full.items()} == {
        "ncbi": 940, "crossner_ai": 431, "crossner_literature": 416, "crossner_music": 465, "crossner_politics": 651,
        "crossner_science": 543, "semeval": 2717, "phee": 968}
    for d in resolve("smoke"):
        assert set(r["text"] for r in d.records(None)) <= set(full[d.bundled]), d.key
