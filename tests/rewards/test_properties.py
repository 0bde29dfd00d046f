"""Properties of SFR over the bundled data: gold is the maximum, any string is safe, fine terms are monotone."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converters.bundled import BUNDLED, bundled_records
from converters.format import render_target, round_trips
from converters.records import Event, Units, gold_units, schema_of
from rewards.sfr import score_response, sfr_ee, sfr_ner, sfr_re
from tests.helpers.rewards import recipe_config

RECORDS = {name: [r for split in entry["splits"] for r in bundled_records(name, split)]
           for name, entry in BUNDLED.items()}
BY_TASK = {task: [r for name, rs in RECORDS.items() if BUNDLED[name]["task"] == task for r in rs]
           for task in ("ner", "re", "ee")}
CONFIG = recipe_config()
SFR_OF = {"ner": sfr_ner, "re": sfr_re, "ee": sfr_ee}
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_rendered_gold_scores_the_maximum_on_every_bundled_record(name):
    for record in RECORDS[name]:
        for style in ("cm", "sa"):
            score = score_response(render_target(record, style), record, CONFIG)
            assert score.overall == 1.0 and score.format_ok == 1.0, (record["id"], style, score)
        if round_trips(record, "sa", "paper"):  # the paper profile cannot always be split back (DESIGN §3)
            assert score_response(render_target(record, "sa", "paper"), record,
                                  recipe_config(profile="paper")).overall == 1.0


# ---------------------------------------------------------------------------------- arbitrary responses

task_records = st.sampled_from(("ner", "re", "ee")).flatmap(lambda t: st.sampled_from(BY_TASK[t]))
json_values = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=30),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                                                    max_size=4), max_leaves=12)


def _assert_safe(response: object, record: dict) -> None:
    for variant in ("sfr", "coarse_only", "fine_only"):
        score = score_response(response, record, recipe_config(variant=variant))
        assert all(math.isfinite(v) for v in score)
        assert score.format_ok in (0.0, 1.0)
        assert score.overall <= 1.0 + 1e-12


@PROPS
@given(task_records, st.text(max_size=300))
def test_any_text_gives_a_finite_reward(record, response):
    _assert_safe(response, record)


@PROPS
@given(task_records, json_values)
def test_any_json_value_gives_a_finite_reward(record, value):
    _assert_safe(json.dumps(value), record)
    slots = schema_of(record).slots
    _assert_safe(json.dumps({slots[0]: value}), record)


@PROPS
@given(task_records, st.data())
def test_truncated_gold_gives_a_finite_reward(record, data):
    target = render_target(record, data.draw(st.sampled_from(("cm", "sa"))))
    _assert_safe(target[: data.draw(st.integers(0, len(target)))], record)


@pytest.mark.slow  # ~45 s per task: json_repair on 100,000 nested braces
def test_huge_and_non_text_outputs():
    for record in (BY_TASK["ner"][0], BY_TASK["re"][0], BY_TASK["ee"][0]):
        slot = schema_of(record).slots[0]
        word = record["text"].split()[0]
        _assert_safe(json.dumps({slot: " | ".join([word] * 5000)}), record)
        _assert_safe("{" * 100_000, record)
        _assert_safe(render_target(record, "cm") * 200, record)
        _assert_safe(None, record)
        _assert_safe(12, record)


# ------------------------------------------------------------------------------- monotone fine terms


def _wrong_unit(task: str, record: dict, text: str) -> object:
    """A unit wrong at every fine level (its (type, head)/(type, tail) or role-argument pairs are wrong too)."""
    label = schema_of(record).slots[0]
    if task == "ner":
        return (label, text)
    if task == "re":
        return (label, text + " #h", text + " #t")
    return Event(label, text, ((schema_of(record).roles[0], text + " #a"),))


@PROPS
@given(task_records, st.data())
def test_dropping_a_correct_unit_or_adding_a_wrong_one_never_raises_the_fine_term(record, data):
    task = record["task"]
    gold = gold_units(record)
    units = list(gold.items)
    if task == "ee":  # drop role-argument pairs inside groups too
        units = [replace(e, arguments=tuple(a for a in e.arguments if data.draw(st.booleans()))) for e in units]
    kept = [u for u in units if data.draw(st.booleans())]
    wrong = [_wrong_unit(task, record, f"zz{i}") for i in range(data.draw(st.integers(0, 2)))]
    pred = Units.of(task, kept + wrong)
    score = SFR_OF[task](gold, pred, CONFIG.weights(task))
    assert score.overall <= SFR_OF[task](gold, gold, CONFIG.weights(task)).overall + 1e-12

    more_wrong = Units.of(task, (*kept, *wrong, _wrong_unit(task, record, "zz9")))
    assert SFR_OF[task](gold, more_wrong, CONFIG.weights(task)).fine <= score.fine + 1e-12
    if kept:
        i = data.draw(st.integers(0, len(kept) - 1))
        if task == "ee" and kept[i].arguments:  # remove one correct role-argument pair
            event = kept[i]
            smaller = [*kept[:i], replace(event, arguments=event.arguments[1:]), *kept[i + 1:]]
        else:
            smaller = kept[:i] + kept[i + 1:]
        fewer = Units.of(task, (*smaller, *wrong))
        assert SFR_OF[task](gold, fewer, CONFIG.weights(task)).fine <= score.fine + 1e-12
