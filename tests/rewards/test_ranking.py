"""The reward ranks answers sensibly, on every bundled record, for every task, variant and clipping:

* the correct answer (the rendered gold target, CM or SA) scores strictly above every response that is not the
  promised JSON object (garbage, prose or fences around the right answer, single quotes, trailing commas, a cut-off
  end, non-string values), including on records whose gold is empty;
* it scores strictly above every well-formed answer with a wrong, missing or extra unit of the granularity the
  variant measures: ``sfr`` any unit; ``coarse_only`` the coarse units (types, EE triggers); ``fine_only`` the fine
  units (type-value pairs, relation pairs, EE role-argument groups). The ablations are blind to the other
  granularity by design (that is what Table 7 ablates), so there they tie.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from converters.bundled import BUNDLED, bundled_records
from converters.format import parse_output, render_target, render_units, set_view
from converters.records import Event, Units, gold_units, schema_of
from rewards.sfr import score_response
from tests.helpers.rewards import recipe_config

RECORDS = [r for name, entry in BUNDLED.items() for split in entry["splits"] for r in bundled_records(name, split)]
BY_TASK = {task: [r for r in RECORDS if r["task"] == task] for task in ("ner", "re", "ee")}
VARIANTS = [(variant, clip) for variant in ("sfr", "coarse_only", "fine_only") for clip in (False, True)]
CONFIGS = {key: recipe_config(variant=key[0], clip=key[1]) for key in VARIANTS}
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

records = st.sampled_from(("ner", "re", "ee")).flatmap(lambda task: st.sampled_from(BY_TASK[task]))
variants = st.sampled_from(VARIANTS)


# Records with empty gold for the tasks whose bundled slices have none: PHEE has no event-less sentence, and
# SemEval's `Other` sentences are NA relations (as in IE_INSTRUCTIONS' semval-RE).
EMPTY = [{"id": "no-event", "dataset": "phee", "task": "ee", "text": "The patient was discharged on day 3 .",
          "labels": BY_TASK["ee"][0]["labels"], "events": []},
         {"id": "no-relation", "dataset": "semeval", "task": "re", "text": "The meeting was moved to Tuesday .",
          "labels": BY_TASK["re"][0]["labels"], "relations": []}]
for record in EMPTY:
    BY_TASK[record["task"]].append(record)
    RECORDS.append(record)


def test_every_task_has_records_with_empty_gold():
    """The ranking matters most where an empty prediction is right: the properties see such records."""
    for task, recs in BY_TASK.items():
        assert any(not gold_units(r).items for r in recs), task


def correct(record: dict, style: str, key: tuple) -> float:
    score = score_response(render_target(record, style), record, CONFIGS[key])
    assert score.format_ok == 1.0 and score.overall == 1.0, (record["id"], style, key)
    return score.overall


# ---------------------------------------------------------------------------------- not the promised object


def _not_promised(target: str, text: str, draw) -> str:
    kind = draw(st.sampled_from(["garbage", "prose", "fence", "repeat", "quotes", "comma", "cut", "list", "null"]))
    if kind == "garbage":
        return draw(st.text(max_size=80))
    if kind == "prose":
        return draw(st.sampled_from(["Answer: ", "Here you go:\n", ""])) + target + draw(
            st.sampled_from([" Done.", "\nHope this helps", " ."]))
    if kind == "fence":
        return f"```json\n{target}\n```"
    if kind == "repeat":
        return target + "\n" + target
    if kind == "quotes":
        return target.replace('"', "'")
    if kind == "comma":
        return target[:-1] + ",}"
    if kind == "cut":
        return target[: draw(st.integers(0, len(target) - 1))]
    obj = json.loads(target)
    key = draw(st.sampled_from(sorted(obj))) if obj else "x"
    return json.dumps({**obj, key: [obj.get(key, text)] if kind == "list" else None})


@PROPS
@given(records, variants, st.sampled_from(("cm", "sa")), st.data())
def test_the_correct_answer_beats_every_response_that_is_not_the_promised_object(record, key, style, data):
    target = render_target(record, style)
    response = _not_promised(target, record["text"], data.draw)
    assume(not parse_output(response, record).well_formed)
    assert score_response(response, record, CONFIGS[key]).overall < correct(record, style, key)


def test_garbage_no_longer_ties_with_the_correct_answer_on_empty_gold_records():
    empty = [r for r in RECORDS if not gold_units(r).items]
    assert {r["task"] for r in empty} == {"ner", "re", "ee"}
    for record in empty:
        for key in VARIANTS:
            for bad in ("", "None", "no entities", "{", "```\n{}\n```"):
                assert score_response(bad, record, CONFIGS[key]).overall < correct(record, "sa", key)


# ----------------------------------------------------------------------------------- wrong, missing, extra


def _span(text: str, draw) -> str:
    words = text.split()
    i = draw(st.integers(0, len(words) - 1))
    return " ".join(words[i: i + draw(st.integers(1, 3))])


def _wrong_unit(record: dict, draw):
    schema = schema_of(record)
    label = draw(st.sampled_from(schema.slots))
    if record["task"] == "ner":
        return (label, _span(record["text"], draw))
    if record["task"] == "re":
        return (label, _span(record["text"], draw), _span(record["text"], draw))
    roles = schema.labels[label] or ("Subject",)
    n_args = draw(st.integers(0, 2))
    return Event(label, _span(record["text"], draw),
                 tuple((draw(st.sampled_from(roles)), _span(record["text"], draw)) for _ in range(n_args)))


def _perturb(record: dict, draw) -> Units:
    task = record["task"]
    items = list(gold_units(record).items)
    op = draw(st.sampled_from(["drop", "add", "replace", "args"] if task == "ee" else ["drop", "add", "replace"]))
    if op in ("drop", "replace", "args") and not items:
        op = "add"
    i = draw(st.integers(0, max(len(items) - 1, 0)))
    if op == "drop":
        del items[i]
    elif op == "add":
        items.append(_wrong_unit(record, draw))
    elif op == "replace":
        items[i] = _wrong_unit(record, draw)
    else:  # remove or add one role-argument pair of a trigger group
        event = items[i]
        args = list(event.arguments)
        if args and draw(st.booleans()):
            del args[draw(st.integers(0, len(args) - 1))]
        else:
            roles = schema_of(record).labels[event.type]
            args.append((draw(st.sampled_from(roles)), _span(record["text"], draw)))
        items[i] = replace(event, arguments=tuple(args))
    return Units.of(task, items)


def coarse_view(units: Units) -> tuple:
    if units.task == "ner":
        return frozenset(t for t, _ in units.entities)
    if units.task == "re":
        return frozenset(t for t, _, _ in units.relations)
    return frozenset(e.type for e in units.events), frozenset((e.type, e.trigger) for e in units.events)


def fine_view(units: Units) -> tuple:
    if units.task == "ner":
        return frozenset(units.entities)
    if units.task == "re":
        rel = frozenset(units.relations)
        return frozenset((t, h) for t, h, _ in rel), frozenset((t, a) for t, _, a in rel), rel
    groups: dict[str, Counter] = {}
    for e in units.events:
        if e.arguments:
            groups.setdefault(e.type, Counter())[frozenset(e.arguments)] += 1
    return frozenset((t, frozenset(c.items())) for t, c in groups.items())


@PROPS
@given(records, variants, st.sampled_from(("cm", "sa")), st.data())
def test_the_correct_answer_beats_every_answer_with_a_wrong_missing_or_extra_unit(record, key, style, data):
    gold = gold_units(record)
    wrong = _perturb(record, data.draw)
    response = render_units(wrong, schema_of(record), style)
    read = parse_output(response, record)
    assume(read.well_formed and set_view(read.units) == set_view(wrong))  # renders and reads back as intended
    coarse_differs = coarse_view(wrong) != coarse_view(gold)
    fine_differs = fine_view(wrong) != fine_view(gold)
    measured = {"sfr": set_view(wrong) != set_view(gold), "coarse_only": coarse_differs,
                "fine_only": fine_differs}[key[0]]
    got = score_response(response, record, CONFIGS[key]).overall
    if measured:
        assert got < correct(record, style, key)
    else:
        assert got == correct(record, style, key)  # the ablation does not see this unit: a tie, by design
