"""Canonical annotated records and the structural units derived from them.

A record is a plain JSON-serialisable dict, the one shape used on disk, in GRPO ``answer`` columns and as gold
for rewards and eval::

    NER: {"id", "dataset", "task": "ner", "text", "labels": [types], "entities": [{"type", "text"}]}
    RE:  {..., "task": "re", "labels": [relation types], "relations": [{"type", "head", "tail"}]}
    EE:  {..., "task": "ee", "labels": {event type: [roles]},
          "events": [{"type", "trigger", "arguments": [{"role", "text"}]}]}

Extra keys (character offsets, source ids) are allowed and ignored. ``gold_units`` turns the annotation into
the units that the output format can express: duplicates removed, and events of one type that share a trigger
merged into one trigger group (the format groups arguments by trigger, so two such events are one group).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

TASKS = ("ner", "re", "ee")


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


@dataclass(frozen=True, slots=True)
class Units:
    """The structural units of one annotation or one prediction; only the field of ``task`` is filled."""

    task: str
    entities: tuple[tuple[str, str], ...] = ()
    relations: tuple[tuple[str, str, str], ...] = ()
    events: tuple[Event, ...] = ()

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


def _need(cond: bool, where: str, field: str, message: str) -> None:
    if not cond:
        raise RecordError(where, field, message)


def _is_str(x: Any) -> bool:
    return isinstance(x, str)


def validate_record(record: Any, where: str = "<record>", check_spans: bool = True) -> dict[str, Any]:
    """Check a canonical record and return it; raise ``RecordError`` naming ``where`` and the field.

    ``check_spans`` also requires every mention to be an exact substring of ``text`` and every type to be
    one of ``labels`` (the prompt promises both to the model).
    """
    _need(isinstance(record, dict), where, "<row>", f"expected a JSON object, got {type(record).__name__}")
    for key in ("id", "dataset", "task", "text", "labels"):
        _need(key in record, where, key, "missing")
    task = record["task"]
    _need(task in TASKS, where, "task", f"must be one of {TASKS}, got {task!r}")
    _need(_is_str(record["text"]) and record["text"] != "", where, "text", "must be a non-empty string")
    text, labels = record["text"], record["labels"]

    def in_text(value: Any, field: str) -> None:
        _need(_is_str(value) and value.strip() != "", where, field, "must be a non-empty string")
        if check_spans:
            _need(value in text, where, field, f"{value!r} is not a substring of the text")

    if task == "ee":
        _need(isinstance(labels, dict) and all(_is_str(k) for k in labels), where, "labels",
              "EE labels must be an object {event type: [roles]}")
        for etype, roles in labels.items():
            _need(isinstance(roles, list) and all(_is_str(r) for r in roles), where, f"labels.{etype}",
                  "must be a list of role names")
        _need("events" in record and isinstance(record["events"], list), where, "events", "missing or not a list")
        for i, event in enumerate(record["events"]):
            f = f"events[{i}]"
            _need(isinstance(event, dict), where, f, "must be an object")
            _need(event.get("type") in labels, where, f + ".type", f"unknown event type {event.get('type')!r}")
            in_text(event.get("trigger"), f + ".trigger")
            args = event.get("arguments", [])
            _need(isinstance(args, list), where, f + ".arguments", "must be a list")
            for j, arg in enumerate(args):
                g = f"{f}.arguments[{j}]"
                _need(isinstance(arg, dict), where, g, "must be an object")
                if check_spans:
                    _need(arg.get("role") in labels[event["type"]], where, g + ".role",
                          f"role {arg.get('role')!r} is not a role of {event['type']!r}")
                in_text(arg.get("text"), g + ".text")
        return record

    _need(isinstance(labels, list) and all(_is_str(x) for x in labels), where, "labels",
          "must be a list of label names")
    key, fields = ("entities", ("text",)) if task == "ner" else ("relations", ("head", "tail"))
    _need(key in record and isinstance(record[key], list), where, key, "missing or not a list")
    for i, unit in enumerate(record[key]):
        f = f"{key}[{i}]"
        _need(isinstance(unit, dict), where, f, "must be an object")
        if check_spans:
            _need(unit.get("type") in labels, where, f + ".type", f"unknown label {unit.get('type')!r}")
        else:
            _need(_is_str(unit.get("type")), where, f + ".type", "must be a string")
        for name in fields:
            in_text(unit.get(name), f"{f}.{name}")
    return record


def gold_units(record: Mapping[str, Any]) -> Units:
    """The units a perfect answer expresses, computed from the structured annotation (never from a target)."""
    task = record["task"]
    if task == "ner":
        return Units("ner", entities=tuple(dict.fromkeys((e["type"], e["text"]) for e in record["entities"])))
    if task == "re":
        return Units(
            "re", relations=tuple(dict.fromkeys((r["type"], r["head"], r["tail"]) for r in record["relations"]))
        )
    groups: dict[tuple[str, str], dict[tuple[str, str], None]] = {}
    for event in record["events"]:
        args = groups.setdefault((event["type"], event["trigger"]), {})
        for arg in event.get("arguments", []):
            args[(arg["role"], arg["text"])] = None
    return Units("ee", events=tuple(Event(t, trig, tuple(args)) for (t, trig), args in groups.items()))


def record_from_answer(answer: str | Mapping[str, Any]) -> dict[str, Any]:
    """Decode a GRPO ``answer`` / ``ground_truth`` value (the record as a JSON string, or already a dict)."""
    return dict(answer) if isinstance(answer, Mapping) else json.loads(answer)
