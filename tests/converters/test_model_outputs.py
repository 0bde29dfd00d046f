"""Model outputs as models really write them (tests/converters/model_outputs.yaml) read as a careful human would."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from converters.format import parse_output, set_view
from converters.records import Event, Schema, Units

CORPUS = yaml.safe_load((Path(__file__).with_name("model_outputs.yaml")).read_text(encoding="utf-8"))


def expected_units(task: str, rows: list) -> Units:
    if task == "ee":
        return Units.of("ee", (Event(t, trig, tuple(map(tuple, args))) for t, trig, args in rows))
    return Units.of(task, map(tuple, rows))


def schema(record: dict) -> Schema:
    labels = record["labels"]
    if record["task"] == "ee":
        return Schema("ee", {k: tuple(v) for k, v in labels.items()}, record["text"])
    return Schema(record["task"], tuple(labels), record["text"])


@pytest.mark.parametrize("case", CORPUS["cases"], ids=[c["name"] for c in CORPUS["cases"]])
def test_model_output_reads_as_a_careful_reader_would(case):
    record = case["record"]
    got = parse_output(case["output"], schema(record))
    assert set_view(got.units) == set_view(expected_units(record["task"], case["units"]))
    assert got.well_formed is case["well_formed"]
    assert got.parsed is bool(case["units"])  # the corpus's answers without units are the unreadable ones
    if not case["well_formed"]:  # every deviation from the promised format is explained
        assert got.reasons and not got.valid


def test_every_value_of_a_repaired_reading_is_in_the_input():
    for case in CORPUS["cases"]:
        got = parse_output(case["output"], schema(case["record"]))
        if "cut off" not in case["name"]:
            assert not got.not_in_input, case["name"]
