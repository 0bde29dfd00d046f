"""Importer for PHEE (pharmacovigilance event extraction) JSON-lines files (``data/json/{train,dev,test}.json``).

Each line: ``{"id", "context", "annotations": [{"events": [...]}]}``; an event has ``event_type``, ``Trigger``,
main arguments ``Subject`` / ``Treatment`` / ``Effect`` with nested sub-arguments (``Subject.Age``,
``Treatment.Drug``, ...), ``Treatment.Combination`` (a list of nested events whose ``Drug`` arguments we keep
as ``Combination.Drug``), and attributes ``Severity`` / ``Speculated`` / ``Negated``.

All events of a sentence are kept (several events per sentence, unlike the IE_INSTRUCTIONS copy). An argument
annotated as several mentions, or as a discontinuous mention of several pieces, becomes one argument per piece
with the same role (each piece is an exact substring of the text; nothing is lost).

Verbalisation, as in the paper's Figure 6:

| raw | label |
| --- | --- |
| event type Adverse_event | adverse event |
| event type Potential_therapeutic_event | potential therapeutic event |
| main argument X | X (Subject, Treatment, Effect) |
| sub-argument Y of X | X.Y (Treatment.Drug, Subject.Age, Treatment.Time_elapsed, ...) |
| Combination drugs | Combination.Drug |

The labels are the ones IE_INSTRUCTIONS' PHEE uses (same event types, same 16 roles), so a model trained on one
is asked and scored with the same labels on the other.

Attributes are not shown in Figure 6, so by default they are left out and noted in the ``ReadLog`` as dropped
("PHEE attribute <name>"). ``attributes: true`` keeps ``Severity`` (a text span) as a role ``Severity`` of the
event; ``Speculated`` / ``Negated`` are sentence-level flags whose spans are often the trigger's and are always
left out. Argument order within an event follows the role list ``ROLES`` (Subject, Effect, Treatment, each
followed by its sub-arguments, as in Figure 6). A trigger of several pieces (none in the released data) would
give one event per piece with the same arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from converters.readers.source import ReadLog, guarded, iter_jsonl, need, spec_path
from converters.records import validate_record

EVENT_TYPES = {"Adverse_event": "adverse event", "Potential_therapeutic_event": "potential therapeutic event"}
COMBINATION_DRUG = "Combination.Drug"  # IE_INSTRUCTIONS' name for the drugs of Treatment.Combination
SUB_ARGUMENTS = {
    "Subject": ("Age", "Gender", "Population", "Race", "Disorder"),
    "Effect": (),
    "Treatment": ("Drug", "Dosage", "Freq", "Route", "Duration", "Time_elapsed", COMBINATION_DRUG, "Disorder"),
}
ROLES = tuple(r for main, subs in SUB_ARGUMENTS.items()
              for r in (main, *(s if s == COMBINATION_DRUG else f"{main}.{s}" for s in subs)))
ATTRIBUTES = ("Severity", "Speculated", "Negated")
_SPAN_KEYS = ("text", "start", "entity_id")


def source_files(spec: Mapping[str, Any]) -> list[Path]:
    return [spec_path(spec)]


def _pieces(arg: Any, where: str, field: str) -> list[str]:
    need(isinstance(arg, dict) and isinstance(arg.get("text"), list), where, f"{field}.text", "missing or not a list")
    out = []
    for mention in arg["text"]:
        need(isinstance(mention, list) and all(isinstance(p, str) for p in mention), where, f"{field}.text",
             "each mention must be a list of strings")
        out.extend(mention)
    return out


def read(spec: Mapping[str, Any], read_log: ReadLog) -> Iterator[dict[str, Any]]:
    """Canonical EE records of one PHEE file."""
    path = spec_path(spec)
    dataset, split, keep_attrs = spec.get("dataset", "phee"), spec.get("split", path.stem), spec.get("attributes")
    roles = [*ROLES, "Severity"] if keep_attrs else list(ROLES)
    labels = {label: roles for label in EVENT_TYPES.values()}
    order = {r: i for i, r in enumerate(roles)}

    def convert(where: str, row: Any) -> dict[str, Any]:
        need(isinstance(row, dict), where, "<row>", "expected a JSON object")
        need(isinstance(row.get("context"), str), where, "context", "missing or not a string")
        annotations = row.get("annotations")
        need(isinstance(annotations, list) and len(annotations) >= 1, where, "annotations", "missing or empty")
        events = []
        for i, ev in enumerate(annotations[0].get("events", [])):
            f = f"annotations[0].events[{i}]"
            etype = ev.get("event_type")
            need(etype in EVENT_TYPES, where, f + ".event_type", f"unknown label {etype!r}; known: {list(EVENT_TYPES)}")
            triggers = _pieces(ev.get("Trigger"), where, f + ".Trigger")
            need(len(triggers) >= 1, where, f + ".Trigger", "no trigger text")
            args: list[tuple[str, str]] = []
            for key, value in ev.items():
                if key in ("event_id", "event_type", "Trigger"):
                    continue
                if key in ATTRIBUTES:
                    if keep_attrs and key == "Severity":
                        args.extend(("Severity", p) for p in _pieces(value, where, f"{f}.{key}"))
                    else:
                        read_log.note("dropped", f"PHEE attribute {key}", where)
                    continue
                need(key in SUB_ARGUMENTS, where, f"{f}.{key}", f"unknown argument {key!r}")
                args.extend((key, p) for p in _pieces(value, where, f"{f}.{key}"))
                for sub, subvalue in value.items():
                    if sub in _SPAN_KEYS:
                        continue
                    if sub == "Combination" and key == "Treatment":
                        for j, combo in enumerate(subvalue):
                            g = f"{f}.Treatment.Combination[{j}].Drug"
                            args.extend((COMBINATION_DRUG, p) for p in _pieces(combo.get("Drug"), where, g))
                        continue
                    role = f"{key}.{sub}"
                    need(role in order, where, f"{f}.{role}", f"unknown argument {role!r}")
                    args.extend((role, p) for p in _pieces(subvalue, where, f"{f}.{role}"))
            args.sort(key=lambda a: order[a[0]])
            arguments = [{"role": r, "text": t} for r, t in dict.fromkeys(args)]
            for trigger in dict.fromkeys(triggers):
                events.append({"type": EVENT_TYPES[etype], "trigger": trigger, "arguments": arguments})
        rec = {"id": f"{dataset}/{split}/{row.get('id', where)}", "dataset": dataset, "task": "ee",
               "text": row["context"], "labels": labels, "events": events}
        return validate_record(rec, where)

    return guarded(iter_jsonl(path), convert, bool(spec.get("strict", True)), read_log)
