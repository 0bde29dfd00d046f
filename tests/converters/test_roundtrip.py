"""Render/parse round trips on all bundled data, the report CLI, Table-6 length buckets, and property tests."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from converters.bundled import BUNDLED, bundled_records
from converters.format import parse_output, render_prompt, render_target, round_trips, set_view, target_order
from converters.lengths import percentile_buckets, target_length_table
from converters.records import Units, gold_units, validate_record
from converters.roundtrip import gold_values, main, roundtrip_report

ALL = [(name, split) for name in BUNDLED for split in BUNDLED[name]["splits"]]


@pytest.mark.parametrize(("name", "split"), ALL)
def test_default_profile_round_trips_every_bundled_record(name: str, split: str) -> None:
    records = bundled_records(name, split)
    for style in ("cm", "sa"):
        rep = roundtrip_report(records, style, "default")
        with_sep = {r["id"] for r in records if any(" | " in v for v in gold_values(r))}
        assert rep["failures"] == [] and set(rep["separator_in_gold"]) == with_sep
        assert rep["round_trip"] == rep["records"] - len(with_sep) == len(records) - len(with_sep)


def test_paper_profile_rate_is_reported_and_lower() -> None:
    records = bundled_records("crossner_ai", "test")
    rep = roundtrip_report(records, "cm", "paper")
    assert rep["rate"] < 1.0 and rep["records"] == len(records) > 0
    assert all(any(" " in v for v in gold_values(r)) for r in records if r["id"] in rep["separator_in_gold"])


def test_roundtrip_cli(capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "semeval", "ncbi", "--profile", "default", "--check"]) == 0
    out = capsys.readouterr().out
    assert "semeval/test" in out and "ncbi/dev" in out and "100.00%" in out and "FAIL" not in out
    assert main(["--dataset", "crossner_ai", "--profile", "paper", "--style", "cm", "--check"]) == 1
    assert "FAIL crossner_ai/dev/" in capsys.readouterr().out


def test_percentile_buckets_shape() -> None:
    table = percentile_buckets(list(range(1, 101)))
    assert table["P50"] == {"threshold": 50.5, "n": 50, "min": 1, "mean": 25.5, "max": 50}
    assert table["P99"]["n"] == 99 and table["P99"]["max"] == 99
    rows = target_length_table(bundled_records("semeval", "test"))
    assert rows["sa"]["P99"]["mean"] < rows["cm"]["P99"]["mean"]  # SA drops the empty slots


# ------------------------------------------------------------------------------------------- properties

SCHEMA_RECORDS = [bundled_records(n, "dev")[0] for n in ("ncbi", "semeval", "phee")]
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                                                 max_size=4), max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200), st.sampled_from(SCHEMA_RECORDS), st.sampled_from(["default", "paper"]))
def test_parse_output_never_raises_on_text(output: str, record: dict, profile: str) -> None:
    result = parse_output(output, record, profile)
    assert result.valid == (result.parsed and not result.reasons)  # valid: read, with nothing to remark
    if not result.parsed:
        assert result.units == Units(record["task"]) and result.reasons and not result.listed
        assert not result.well_formed
    if not output.lstrip().startswith("```"):  # (a fenced answer is read inside its fence)
        assert ("no JSON object in output" in result.reasons) == ("{" not in output)


@settings(max_examples=60, deadline=None)
@given(JSONISH, st.sampled_from(SCHEMA_RECORDS), st.booleans())
def test_parse_output_never_raises_on_jsonish(value: object, record: dict, truncate: bool) -> None:
    text = json.dumps(value, ensure_ascii=False)
    result = parse_output(text[: len(text) // 2] if truncate else text, record)
    assert result.valid == (result.parsed and not result.reasons)
    if isinstance(value, dict) and not truncate:  # exactly one JSON object: read as it is, every key judged
        assert result.parsed and result.well_formed == all(isinstance(v, str) for v in value.values())
        unknown = [k for k in value if k not in record["labels"]]
        assert set(unknown) <= set(result.off_schema)  # EE adds 'slot: role' entries for unknown roles
        if record["task"] != "ee":
            assert list(result.off_schema) == unknown
        assert [f"unknown slot {k!r}" for k in unknown] == [r for r in result.reasons if r.startswith("unknown slot")]
    if not result.parsed:
        assert result.units == Units(record["task"])


# A value that contains one of its task's separators is the documented exception to exact round trips.
STRUCTURAL_SEPARATORS = {"ner": (" | ",), "re": (" | ", ", "), "ee": (" | ", ": ", "; ")}


WORDS = st.text(alphabet="abcdeXYZ-.',:;\"\\é", min_size=1, max_size=6)  # quotes and backslashes: escaping


@st.composite
def records(draw: st.DrawFn) -> dict:
    """A random valid record: values are substrings (token spans) of the text, none contains ' | '."""
    tokens = draw(st.lists(WORDS, min_size=3, max_size=14))
    text = " ".join(tokens)

    def span() -> str:
        a = draw(st.integers(0, len(tokens) - 1))
        return " ".join(tokens[a:a + draw(st.integers(1, 3))])

    task = draw(st.sampled_from(["ner", "re", "ee"]))
    labels = draw(st.lists(st.sampled_from(["person", "place", "born in", "attack", "die"]), min_size=1,
                           max_size=3, unique=True))
    rec = {"id": "h", "dataset": "h", "task": task, "text": text}
    if task == "ner":
        rec.update(labels=labels, entities=[{"type": draw(st.sampled_from(labels)), "text": span()}
                                            for _ in range(draw(st.integers(0, 4)))])
    elif task == "re":
        rec.update(labels=labels, relations=[{"type": draw(st.sampled_from(labels)), "head": span(), "tail": span()}
                                             for _ in range(draw(st.integers(0, 3)))])
    else:
        roles = ["Agent", "Victim", "Place"]
        def arguments() -> list[dict]:
            return [{"role": draw(st.sampled_from(roles)), "text": span()} for _ in range(draw(st.integers(0, 3)))]

        rec.update(labels={t: roles for t in labels}, events=[
            {"type": draw(st.sampled_from(labels)), "trigger": span(), "arguments": arguments()}
            for _ in range(draw(st.integers(0, 2)))])
    assume(not any(sep in value for value in gold_values(rec) for sep in STRUCTURAL_SEPARATORS[task]))
    return validate_record(rec)


@settings(max_examples=80, deadline=None)
@given(records(), st.sampled_from(["cm", "sa"]))
def test_render_then_parse_is_identity(rec: dict, style: str) -> None:
    target = render_target(rec, style)
    parsed = parse_output(target, rec)
    assert set_view(parsed.units) == set_view(gold_units(rec)) and round_trips(rec, style)
    assert parsed.units == target_order(gold_units(rec), list(rec["labels"]), rec["text"])  # same order, too
    assert target == json.dumps(json.loads(target), ensure_ascii=False)  # joined by hand, exactly json.dumps
    slots = list(dict.fromkeys(rec["labels"]))
    assert list(json.loads(target)) == (slots if style == "cm" else [s for s in slots if json.loads(target).get(s)])
    assert render_prompt(rec, style).endswith("\n" + rec["text"])
