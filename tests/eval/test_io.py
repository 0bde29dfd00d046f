"""Prediction files: malformed rows name their line; resumption. LLaMA-Factory's: test_llamafactory_backend.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.predictions_io import PredictionFileError, load_predictions, resume_rows

GOLD = [{"id": f"r{i}", "dataset": "t", "task": "ner", "text": f"Anna {i} .", "labels": ["person"],
         "entities": [{"type": "person", "text": "Anna"}]} for i in range(3)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def row(i: int, pred: str = "{}") -> str:
    return json.dumps({"id": f"r{i}", "prediction": pred})


def test_load_predictions_aligns_by_id(tmp_path: Path) -> None:
    rows = load_predictions(write(tmp_path / "p.jsonl", [row(2, "c"), row(0, "a"), "", row(1, "b")]), GOLD)
    assert [r["prediction"] for r in rows] == ["a", "b", "c"]


@pytest.mark.parametrize("lines, message", [
    ([row(0), "{broken", row(2)], r"p\.jsonl:2: broken JSON line"),
    ([row(0), row(1), row(2), json.dumps({"id": "zz", "prediction": ""})], r"p\.jsonl:4: extra row: id 'zz'"),
    ([row(0), row(1), row(1)], r"p\.jsonl:3: id 'r1' already predicted on line 2"),
    ([row(0), json.dumps({"id": "r1"})], r"p\.jsonl:2: missing field 'prediction'"),
    ([row(0), "[1, 2]"], r"p\.jsonl:2: expected a JSON object, got list"),
    ([row(0)], r"p\.jsonl: missing rows: 2 gold record\(s\) have no prediction \(ids 'r1', 'r2'\)"),
])
def test_malformed_prediction_files_name_the_line(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(PredictionFileError, match=message):
        load_predictions(write(tmp_path / "p.jsonl", lines), GOLD)


def test_resume_cuts_a_broken_last_line_only(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(row(0) + "\n" + row(1) + "\n" + '{"id": "r2", "predic', encoding="utf-8")
    assert [r["id"] for r in resume_rows(path)] == ["r0", "r1"]
    assert path.read_text(encoding="utf-8") == row(0) + "\n" + row(1) + "\n"
    path.write_text(row(0) + "\n" + row(1), encoding="utf-8")  # complete JSON but no newline: cut, redone
    assert [r["id"] for r in resume_rows(path)] == ["r0"]
    write(path, [row(0), "{oops", row(2)])
    with pytest.raises(PredictionFileError, match=r"p\.jsonl:2: broken prediction row in the middle"):
        resume_rows(path)
