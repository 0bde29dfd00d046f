"""Prompts and targets: the strings a model is asked and trained to write.

Prompts follow Figures 4-8 of the paper; a target is the JSON object ``converters.format.profiles`` describes,
values in order of first appearance in the input. The same prompt serves SFT, GRPO rollouts and evaluation.
"""

from __future__ import annotations

from functools import lru_cache
from operator import itemgetter
from typing import Any, Iterable, Mapping, Sequence

from converters.format.profiles import (
    ARG_SEP,
    CONCISE,
    PAIR_SEP,
    ROLE_SEP,
    Profile,
    check_style,
    get_profile,
    task_labels_text,
)
from converters.jsonenc import encode_str
from converters.records import Event, Schema, Units, gold_items

# ---------------------------------------------------------------------------------------------- prompts


def _instruction(schema: Schema, profile: Profile) -> str:
    sep = profile.value_sep
    if schema.task == "ner":
        slots = schema.slots
        return (
            f"You are an information extraction assistant. Strictly extract {len(slots)} slots "
            f"({', '.join(slots)}) from the user input. Slot values must be exact substrings of the input. "
            f"If a slot has multiple values, join them with '{sep}' in the order of first appearance and "
            f"remove duplicates."
        )
    if schema.task == "re":
        return (
            "You are an information extraction assistant. Strictly extract relation pairs for the following "
            f"relation types ({', '.join(schema.slots)}) from the user input. Values must be exact substrings "
            f"of the input. If a relation has multiple pairs, join them with '{sep}' in the order of first "
            "appearance, and each pair must be formatted as 'word1, word2' ."
        )
    text = (
        "You are an information extraction assistant. Strictly extract events for the following event types "
        "from the user input and reply with a single JSON object only. The keys MUST be exactly these event "
        f"types: [{', '.join(schema.slots)}]. For each event type, group arguments by trigger. Format each "
        f"group as `TRIGGER: ROLE: argument; ROLE: argument`. Valid roles include: [{', '.join(schema.roles)}]."
    )
    if profile.name != "paper":  # the paper's Figure 6 leaves several groups of one type unspecified
        text += f" If an event type has several trigger groups, join them with '{sep}'."
    return text


def _labels_key(task: str, labels: Any) -> tuple:
    """A hashable form of a label set (a list, or {event type: [roles]} for EE)."""
    if task == "ee":
        return tuple((k, tuple(v)) for k, v in labels.items())
    return tuple(labels)


@lru_cache(maxsize=1024)
def _cached_head(task: str, labels_key: tuple, profile: Profile, style: str) -> str:
    """Everything before the input, per (schema, profile, style), cached: stage builds render the same few
    schemas millions of times (and ``jsonenc.encode_joined`` caches its escaping by this very string)."""
    labels = dict(labels_key) if task == "ee" else labels_key
    instruction = _instruction(Schema(task, labels), profile)
    if style == "sa":
        instruction += " " + CONCISE
    return f"{instruction} The user input is:\n"


def prompt_parts(record_or_schema: Mapping[str, Any] | Schema, style: str = "cm",
                 profile: str | Profile = "default", text: str | None = None) -> tuple[str, str]:
    """``(head, input)`` with ``render_prompt(...) == head + input``; ``head`` is one shared string per schema,
    profile and style (instruction, the SA sentence when ``style='sa'``, the input marker)."""
    check_style(style)
    task, labels, body = task_labels_text(record_or_schema)
    body = text if text is not None else body
    if body is None:
        raise ValueError("render_prompt needs the input text (a record, a Schema with text, or text=...)")
    return _cached_head(task, _labels_key(task, labels), get_profile(profile), style), body


def render_prompt(record_or_schema: Mapping[str, Any] | Schema, style: str = "cm",
                  profile: str | Profile = "default", text: str | None = None) -> str:
    """The single user turn a model sees: instruction, the SA sentence when ``style='sa'``, then the input.

    The same string is used for SFT, GRPO rollouts and evaluation, so a model is always asked the same way.
    """
    head, body = prompt_parts(record_or_schema, style, profile, text)
    return head + body


# ---------------------------------------------------------------------------------------------- targets


def _in_text_order(task: str, items: Sequence[Any], text: str) -> list[tuple[int, str, str, Any]]:
    """``(first position, slot, rendered value, item)`` sorted by first appearance of the value in the text
    (RE: of either side; EE: of the trigger; absent values last; ties keep annotation order), duplicates
    removed: the order values take inside a target slot."""
    end = len(text)

    def pos(value: str) -> int:
        found = text.find(value)
        return found if found >= 0 else end

    if task == "ner":
        keyed = [(pos(item[1]), item[0], item[1], item) for item in items]
    elif task == "re":
        keyed = [(min(pos(item[1]), pos(item[2])), item[0], f"{item[1]}{PAIR_SEP}{item[2]}", item) for item in items]
    else:
        keyed = [(pos(e.trigger), e.type, _trigger_group(e), e) for e in items]
    return sorted(dict.fromkeys(keyed), key=_FIRST)  # sorted() is stable


_FIRST = itemgetter(0)


def _slot_strings(task: str, items: Sequence[Any], text: str, sep: str) -> dict[str, str]:
    """Slot -> its values joined by ``sep`` in ``_in_text_order``; slots in order of their first value."""
    if task == "ner" and len(items) < 2:  # most sentences: nothing to order or join
        return dict(items)
    filled: dict[str, str] = {}
    for _, slot, value, _ in _in_text_order(task, items, text):
        filled[slot] = filled[slot] + sep + value if slot in filled else value
    return filled


def target_order(units: Units, slots: Sequence[str], text: str) -> Units:
    """The units in the order a rendered target lists them: slot by slot in schema order (slots outside the
    schema last), values in order of first appearance in the text; duplicates removed. Order-sensitive scorers
    (InstructUIE's EE trigger accuracy) compare a gold answer in this order with the model's."""
    rank = {slot: i for i, slot in enumerate(slots)}
    ordered = sorted(_in_text_order(units.task, units.items, text), key=lambda k: rank.get(k[1], len(rank)))
    return Units.of(units.task, (k[3] for k in ordered))


def _trigger_group(event: Event) -> str:
    if not event.arguments:
        return event.trigger
    return event.trigger + ROLE_SEP + ARG_SEP.join(f"{role}{ROLE_SEP}{arg}" for role, arg in event.arguments)


def render_target(record: Mapping[str, Any], style: str = "cm", profile: str | Profile = "default") -> str:
    """The training target of a record: every schema slot (CM, ``""`` when empty) or only filled ones (SA)."""
    task = record["task"]
    return _render(task, gold_items(record), record["labels"], record["text"], style, get_profile(profile))


def render_units(units: Units, schema: Schema, style: str = "cm", profile: str | Profile = "default") -> str:
    """Render any units (gold or perturbed) as a target string against ``schema``."""
    return _render(units.task, units.items, schema.slots, schema.text or "", style, get_profile(profile))


def _render(task: str, items: Sequence[Any], slots: Iterable[str], text: str, style: str, profile: Profile) -> str:
    """``slots``: the schema's slots in order (a label list, or the EE labels mapping, whose keys are its slots).

    The JSON object is joined from cached '"slot": ' prefixes (byte-identical to ``json.dumps(...,
    ensure_ascii=False)``): CM targets are mostly empty slots, and a build renders millions of them.
    """
    check_style(style)
    filled = _slot_strings(task, items, text, profile.value_sep)
    prefixes = _slot_prefixes(tuple(slots))
    if style == "cm":
        if not filled:
            return _empty_object(prefixes)
        parts = [prefix + (encode_str(filled.pop(slot)) if slot in filled else '""') for slot, prefix in prefixes]
    else:
        parts = [prefix + encode_str(filled.pop(slot)) for slot, prefix in prefixes if slot in filled]
    parts += [encode_str(slot) + ": " + encode_str(value) for slot, value in filled.items()]  # outside the schema
    return "{" + ", ".join(parts) + "}"


@lru_cache(maxsize=1024)
def _slot_prefixes(slots: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((slot, encode_str(slot) + ": ") for slot in dict.fromkeys(slots))


@lru_cache(maxsize=1024)
def _empty_object(prefixes: tuple[tuple[str, str], ...]) -> str:
    return "{" + ", ".join(prefix + '""' for _, prefix in prefixes) + "}"
