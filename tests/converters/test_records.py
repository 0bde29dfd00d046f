"""Canonical records: validation names the file and the field, gold units from the annotation, schemas, JSON."""

from __future__ import annotations

import copy
import json

import pytest

from converters.records import (
    Event,
    RecordError,
    Schema,
    Units,
    gold_items,
    gold_units,
    record_from_answer,
    schema_of,
    validate_record,
)

NER = {"id": "n1", "dataset": "d", "task": "ner", "text": "Kevin met Ann in Oslo .", "labels": ["person", "city"],
       "entities": [{"type": "person", "text": "Kevin"}, {"type": "person", "text": "Ann"},
                    {"type": "person", "text": "Kevin"}, {"type": "city", "text": "Oslo"}]}
RE = {"id": "r1", "dataset": "d", "task": "re", "text": "Kevin works for Acme .", "labels": ["works for"],
      "relations": [{"type": "works for", "head": "Kevin", "tail": "Acme"},
                    {"type": "works for", "head": "Kevin", "tail": "Acme"}]}
EE = {"id": "e1", "dataset": "d", "task": "ee", "text": "Rebels attacked the town and attacked the base .",
      "labels": {"attack": ["Attacker", "Target"], "die": ["Victim"]},
      "events": [{"type": "attack", "trigger": "attacked", "arguments": [{"role": "Attacker", "text": "Rebels"},
                                                                        {"role": "Target", "text": "town"}]},
                 {"type": "attack", "trigger": "attacked", "arguments": [{"role": "Target", "text": "base"},
                                                                        {"role": "Target", "text": "town"}]},
                 {"type": "die", "trigger": "attacked"}]}


def test_without_a_location_the_error_says_record():
    with pytest.raises(RecordError, match=r"^<record>: field 'text': must be a string$"):
        validate_record(broken(NER, "text", 5))


def test_valid_records_are_returned_as_they_are():
    for record in (NER, RE, EE, {**NER, "text": "", "entities": []}):
        assert validate_record(record) is record


def broken(record: dict, path: str, value) -> dict:
    """``record`` with the value at ``path`` (keys and list indexes joined by '/') replaced, or removed (...)."""
    out = copy.deepcopy(record)
    *parents, last = path.split("/")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return out


@pytest.mark.parametrize(("record", "field", "message"), [
    (["not", "a", "dict"], "<row>", "expected a JSON object, got list"),
    (broken(NER, "id", ...), "id", "missing"),
    (broken(NER, "dataset", ...), "dataset", "missing"),
    (broken(NER, "task", ...), "task", "missing"),
    (broken(NER, "text", ...), "text", "missing"),
    (broken(NER, "labels", ...), "labels", "missing"),
    (broken(NER, "task", "ner "), "task", "must be one of ('ner', 're', 'ee'), got 'ner '"),
    (broken(NER, "text", None), "text", "must be a string"),
    (broken(NER, "labels", "person"), "labels", "must be a list of label names"),
    (broken(NER, "labels", ["person", 3]), "labels", "must be a list of label names"),
    (broken(NER, "entities", ...), "entities", "missing or not a list"),
    (broken(NER, "entities", {"type": "person"}), "entities", "missing or not a list"),
    (broken(NER, "entities/1", "Ann"), "entities[1]", "must be an object"),
    (broken(NER, "entities/1/type", "animal"), "entities[1].type", "unknown label 'animal'"),
    (broken(NER, "entities/1/text", ""), "entities[1].text", "must be a non-empty string"),
    (broken(NER, "entities/1/text", "  "), "entities[1].text", "must be a non-empty string"),
    (broken(NER, "entities/1/text", 7), "entities[1].text", "must be a non-empty string"),
    (broken(NER, "entities/1/text", "Bob"), "entities[1].text", "'Bob' is not a substring of the text"),
    (broken(RE, "relations", None), "relations", "missing or not a list"),
    (broken(RE, "relations/0/head", "Bob"), "relations[0].head", "'Bob' is not a substring of the text"),
    (broken(RE, "relations/1/tail", ...), "relations[1].tail", "must be a non-empty string"),
    (broken(EE, "labels", ["attack"]), "labels", "EE labels must be an object {event type: [roles]}"),
    (broken(EE, "labels/die", "Victim"), "labels.die", "must be a list of role names"),
    (broken(EE, "labels/die", [None]), "labels.die", "must be a list of role names"),
    (broken(EE, "events", ...), "events", "missing or not a list"),
    (broken(EE, "events/2", "die"), "events[2]", "must be an object"),
    (broken(EE, "events/2/type", "born"), "events[2].type", "unknown event type 'born'"),
    (broken(EE, "events/1/trigger", "bombed"), "events[1].trigger", "'bombed' is not a substring of the text"),
    (broken(EE, "events/1/trigger", ""), "events[1].trigger", "must be a non-empty string"),
    (broken(EE, "events/0/arguments", {"role": "Attacker"}), "events[0].arguments", "must be a list"),
    (broken(EE, "events/0/arguments/1", "town"), "events[0].arguments[1]", "must be an object"),
    (broken(EE, "events/0/arguments/1/role", "Victim"), "events[0].arguments[1].role",
     "role 'Victim' is not a role of 'attack'"),
    (broken(EE, "events/1/arguments/0/text", "bridge"), "events[1].arguments[0].text",
     "'bridge' is not a substring of the text"),
])
def test_each_malformed_field_is_named_with_the_row(record, field, message):
    with pytest.raises(RecordError) as err:
        validate_record(record, "data.jsonl:7")
    assert (err.value.where, err.value.field) == ("data.jsonl:7", field)
    assert str(err.value) == f"data.jsonl:7: field {field!r}: {message}"


def test_without_span_checks_unknown_labels_and_outside_mentions_pass():
    loose = broken(broken(NER, "entities/1/type", "animal"), "entities/0/text", "Bob")
    assert validate_record(loose, check_spans=False) is loose
    ee = broken(broken(EE, "events/0/arguments/1/role", "Victim"), "events/0/trigger", "stormed")
    assert validate_record(ee, check_spans=False) is ee
    with pytest.raises(RecordError, match=r"^x\.jsonl:3: field 'entities\[1\].type': must be a string"):
        validate_record(broken(NER, "entities/1/type", None), "x.jsonl:3", check_spans=False)
    with pytest.raises(RecordError, match=r"events\[2\].type': unknown event type 'born'"):
        validate_record(broken(EE, "events/2/type", "born"), check_spans=False)  # the schema, not a span
    with pytest.raises(RecordError, match=r"entities\[1\].text': must be a non-empty string"):
        validate_record(broken(NER, "entities/1/text", ""), check_spans=False)
    assert validate_record(broken(EE, "events/2/arguments", []), check_spans=False)  # arguments may be absent


def test_gold_units_drop_repeats_and_merge_events_that_share_type_and_trigger():
    assert gold_items(NER) == [("person", "Kevin"), ("person", "Ann"), ("person", "Kevin"), ("city", "Oslo")]
    assert gold_units(NER) == Units("ner", entities=(("person", "Kevin"), ("person", "Ann"), ("city", "Oslo")))
    assert gold_units(RE) == Units("re", relations=(("works for", "Kevin", "Acme"),))
    assert gold_units(EE).events == (
        Event("attack", "attacked", (("Attacker", "Rebels"), ("Target", "town"), ("Target", "base"))),
        Event("die", "attacked"))
    assert gold_units(EE).items is gold_units(EE).events or gold_units(EE).items == gold_units(EE).events


def test_units_know_their_field_and_write_plain_json():
    ner, re_, ee = gold_units(NER), gold_units(RE), gold_units(EE)
    assert Units.of("re", [("a", "b", "c")]) == Units("re", relations=(("a", "b", "c"),))
    assert (ner.items, re_.items) == (ner.entities, re_.relations) and ee.items == ee.events
    assert ner.to_json() == {"task": "ner", "entities": [{"type": "person", "text": "Kevin"},
                                                         {"type": "person", "text": "Ann"},
                                                         {"type": "city", "text": "Oslo"}]}
    assert re_.to_json() == {"task": "re", "relations": [{"type": "works for", "head": "Kevin", "tail": "Acme"}]}
    assert ee.to_json() == {"task": "ee", "events": [
        {"type": "attack", "trigger": "attacked", "arguments": [{"role": "Attacker", "text": "Rebels"},
                                                               {"role": "Target", "text": "town"},
                                                               {"role": "Target", "text": "base"}]},
        {"type": "die", "trigger": "attacked", "arguments": []}]}
    assert Units("ee").to_json() == {"task": "ee", "events": []}


def test_schemas_give_slots_in_order_and_ee_roles_once():
    ner, ee = schema_of(NER), schema_of(EE)
    assert ner == Schema("ner", ("person", "city"), NER["text"]) and ner.slots == ("person", "city")
    assert ner.roles == () and schema_of(RE).roles == ()
    assert ee == Schema("ee", {"attack": ("Attacker", "Target"), "die": ("Victim",)}, EE["text"])
    assert ee.slots == ("attack", "die")
    assert Schema("ee", {"a": ("X", "Y"), "b": ("Y", "Z")}).roles == ("X", "Y", "Z")
    assert schema_of({k: v for k, v in NER.items() if k != "text"}).text is None


def test_an_answer_is_the_record_as_json_or_already_a_mapping():
    assert record_from_answer(json.dumps(EE)) == EE
    assert record_from_answer(EE) == EE and record_from_answer(EE) is not EE
    with pytest.raises(json.JSONDecodeError):
        record_from_answer("{broken")
