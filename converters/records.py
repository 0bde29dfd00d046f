"""Canonical annotated records and the structural units derived from them.

A record is a plain JSON-serialisable dict, the one shape used on disk, in GRPO ``answer`` columns and as gold
for rewards and eval::

    NER: {"id", "dataset", "task": "ner", "text", "labels": [types], "entities": [{"type", "text"}]}
    RE:  {..., "task": "re", "labels": [relation types], "relations": [{"type", "head", "tail"}]}
    EE:  {..., "task": "ee", "labels": {event type: [roles]},
          "events": [{"type", "trigger", "arguments": [{"role", "text"}]}]}

``text`` may be empty (a real benchmark has an empty tweet): such a record has no annotation. Extra keys
(character offsets, source ids, ``set_aside``: annotations a reader left out of the gold units, see
``converters.readers.ie_instructions``) are allowed and ignored here. ``gold_units`` turns the annotation into
the units that the output format can express: duplicates removed, and events of one type that share a trigger
merged into one trigger group (the format groups arguments by trigger, so two such events are one group).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

TASKS = ("ner", "re", "ee")
UNIT_FIELDS = {"ner": "entities", "re": "relations", "ee": "events"}  # the Units field each task fills


class RecordError(ValueError):
    """A malformed dataset row; the message names the file, the line or index, and the field."""

    def __init__(self, where: str, field: str, message: str) -> None:
        self.where, self.field = where, field
        super().__init__(f"{where}: field {field!r}: {message}")


@dataclass(frozen=True, slots=True)
class Event:
    """One trigger group: an event type, its trigger and its (role, argument) pairs in order."""

    type: str
    trigger: str
    arguments: tuple[tuple[str, str], ...] = ()


class Units(NamedTuple):
    """The structural units of one annotation or one prediction; only the field of ``task`` is filled.

    A named tuple rather than a frozen dataclass: parsing builds one per model output, and a tuple is built in C.
    """

    task: str
    entities: tuple[tuple[str, str], ...] = ()
    relations: tuple[tuple[str, str, str], ...] = ()
    events: tuple[Event, ...] = ()

    @classmethod
    def of(cls, task: str, items: Any) -> Units:
        """The units of ``task`` holding ``items`` (entity, relation or trigger-group tuples)."""
        return cls(task, **{UNIT_FIELDS[task]: tuple(items)})

    @property
    def items(self) -> tuple:
        """The filled field: entities, relations or events, by ``task``."""
        return getattr(self, UNIT_FIELDS[self.task])

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form, for prediction files and reports."""
        if self.task == "ner":
            return {"task": "ner", "entities": [{"type": t, "text": v} for t, v in self.entities]}
        if self.task == "re":
            return {"task": "re", "relations": [{"type": t, "head": h, "tail": a} for t, h, a in self.relations]}
        return {
            "task": "ee",
            "events": [
                {"type": e.type, "trigger": e.trigger, "arguments": [{"role": r, "text": v} for r, v in e.arguments]}
                for e in self.events
            ],
        }


@dataclass(frozen=True, slots=True)
class Schema:
    """What the prompt asks for: the task and its label set (a list, or {event type: [roles]} for EE).

    ``text`` is the input sentence when known; the parser uses it for the exact-substring rule.
    """

    task: str
    labels: tuple[str, ...] | Mapping[str, tuple[str, ...]]
    text: str | None = None

    @property
    def slots(self) -> tuple[str, ...]:
        """Top-level JSON keys of a target: entity types, relation types or event types, in schema order."""
        return tuple(self.labels)

    @property
    def roles(self) -> tuple[str, ...]:
        """EE only: every role of every event type, first appearance first."""
        if self.task != "ee":
            return ()
        return tuple(dict.fromkeys(r for roles in self.labels.values() for r in roles))  # type: ignore[union-attr]


def schema_of(record: Mapping[str, Any]) -> Schema:
    """The schema a record is annotated against, with its text."""
    task = record["task"]
    labels = record["labels"]
    if task == "ee":
        return Schema(task, {str(k): tuple(v) for k, v in labels.items()}, record.get("text"))
    return Schema(task, tuple(labels), record.get("text"))


def _all_str(values: list[Any]) -> bool:
    """Whether every item is a string; ``str.join`` checks that in C (this runs once per row of large builds)."""
    try:
        "".join(values)
    except TypeError:
        return False
    return True


def _mention_error(value: Any, text: str, check_spans: bool) -> str | None:
    """Why ``value`` is not an acceptable mention of ``text`` (None when it is)."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if check_spans and value not in text:
        return f"{value!r} is not a substring of the text"
    return None


def validate_record(record: Any, where: str = "<record>", check_spans: bool = True) -> dict[str, Any]:
    """Check a canonical record and return it; raise ``RecordError`` naming ``where`` and the field.

    ``check_spans`` also requires every mention to be an exact substring of ``text`` and every type to be
    one of ``labels`` (the prompt promises both to the model). Messages are only built on failure: stage
    builds validate millions of rows.
    """
    if not isinstance(record, dict):
        raise RecordError(where, "<row>", f"expected a JSON object, got {type(record).__name__}")
    for key in ("id", "dataset", "task", "text", "labels"):
        if key not in record:
            raise RecordError(where, key, "missing")
    task, text, labels = record["task"], record["text"], record["labels"]
    if task not in TASKS:
        raise RecordError(where, "task", f"must be one of {TASKS}, got {task!r}")
    if not isinstance(text, str):
        raise RecordError(where, "text", "must be a string")
    if task == "ee":
        _validate_events(record, labels, text, where, check_spans)
        return record
    if not isinstance(labels, list) or not _all_str(labels):
        raise RecordError(where, "labels", "must be a list of label names")
    key, fields = ("entities", ("text",)) if task == "ner" else ("relations", ("head", "tail"))
    units = record.get(key)
    if not isinstance(units, list):
        raise RecordError(where, key, "missing or not a list")
    for i, unit in enumerate(units):
        if not isinstance(unit, dict):
            raise RecordError(where, f"{key}[{i}]", "must be an object")
        utype = unit.get("type")
        if check_spans and utype not in labels:
            raise RecordError(where, f"{key}[{i}].type", f"unknown label {utype!r}")
        if not isinstance(utype, str):
            raise RecordError(where, f"{key}[{i}].type", "must be a string")
        for name in fields:
            problem = _mention_error(unit.get(name), text, check_spans)
            if problem:
                raise RecordError(where, f"{key}[{i}].{name}", problem)
    return record


def _validate_events(record: dict[str, Any], labels: Any, text: str, where: str, check_spans: bool) -> None:
    if not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
        raise RecordError(where, "labels", "EE labels must be an object {event type: [roles]}")
    for etype, roles in labels.items():
        if not isinstance(roles, list) or not _all_str(roles):
            raise RecordError(where, f"labels.{etype}", "must be a list of role names")
    events = record.get("events")
    if not isinstance(events, list):
        raise RecordError(where, "events", "missing or not a list")
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise RecordError(where, f"events[{i}]", "must be an object")
        etype = event.get("type")
        if etype not in labels:
            raise RecordError(where, f"events[{i}].type", f"unknown event type {etype!r}")
        problem = _mention_error(event.get("trigger"), text, check_spans)
        if problem:
            raise RecordError(where, f"events[{i}].trigger", problem)
        args = event.get("arguments", [])
        if not isinstance(args, list):
            raise RecordError(where, f"events[{i}].arguments", "must be a list")
        for j, arg in enumerate(args):
            if not isinstance(arg, dict):
                raise RecordError(where, f"events[{i}].arguments[{j}]", "must be an object")
            if check_spans and arg.get("role") not in labels[etype]:
                raise RecordError(where, f"events[{i}].arguments[{j}].role",
                                  f"role {arg.get('role')!r} is not a role of {etype!r}")
            problem = _mention_error(arg.get("text"), text, check_spans)
            if problem:
                raise RecordError(where, f"events[{i}].arguments[{j}].text", problem)


def gold_items(record: Mapping[str, Any]) -> list[Any]:
    """The annotation as unit tuples of the record's task, in annotation order: (type, text) entities,
    (type, head, tail) relations, or trigger groups (``Event``). NER/RE duplicates are kept (``gold_units``
    removes them); events of one type that share a trigger are already merged into one group."""
    task = record["task"]
    if task == "ner":
        return [(e["type"], e["text"]) for e in record["entities"]]
    if task == "re":
        return [(r["type"], r["head"], r["tail"]) for r in record["relations"]]
    groups: dict[tuple[str, str], dict[tuple[str, str], None]] = {}
    for event in record["events"]:
        args = groups.setdefault((event["type"], event["trigger"]), {})
        for arg in event.get("arguments", []):
            args[(arg["role"], arg["text"])] = None
    return [Event(t, trig, tuple(args)) for (t, trig), args in groups.items()]


def gold_units(record: Mapping[str, Any]) -> Units:
    """The units a perfect answer expresses, computed from the structured annotation (never from a target)."""
    return Units.of(record["task"], dict.fromkeys(gold_items(record)))  # EE groups are already unique


def record_from_answer(answer: str | Mapping[str, Any]) -> dict[str, Any]:
    """Decode a GRPO ``answer`` / ``ground_truth`` value (the record as a JSON string, or already a dict)."""
    return dict(answer) if isinstance(answer, Mapping) else json.loads(answer)
