"""The format's constants: how a target joins its values (profiles, separators) and the two target styles.

A target is one JSON object whose keys are the schema's slots (entity types, relation types or event types). A
slot with several values joins them with the profile's value separator: `` | `` by default, a single space in
the ``paper`` profile (as the paper prints it). RE values are ``head, tail``; EE values are
``TRIGGER: ROLE: argument; ROLE: argument`` trigger groups. Rendering and parsing both read these, nothing else
defines them. ``task_labels_text`` is the one reading of a record (or schema) both do per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from converters.records import Schema


@dataclass(frozen=True)
class Profile:
    """How several values of one slot are joined; ``name`` is what recipes and reports refer to."""

    name: str
    value_sep: str


PROFILES: dict[str, Profile] = {
    "default": Profile("default", " | "),
    "paper": Profile("paper", " "),
}

PAIR_SEP = ", "
ROLE_SEP = ": "
ARG_SEP = "; "
CONCISE = "Please use concise output with no empty fields."
STYLES = ("cm", "sa")


def check_style(style: str) -> None:
    """Refuse a style other than ``cm`` (every slot) and ``sa`` (filled slots only, the concise sentence)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")


def task_labels_text(record_or_schema: Mapping[str, Any] | Schema) -> tuple[str, Any, str | None]:
    """(task, labels, text) of a record or a Schema, without building a Schema per call (hot path)."""
    if isinstance(record_or_schema, Schema):
        return record_or_schema.task, record_or_schema.labels, record_or_schema.text
    return record_or_schema["task"], record_or_schema["labels"], record_or_schema.get("text")


def get_profile(profile: str | Profile) -> Profile:
    """A profile by name (or the profile itself); unknown names raise with the list of known ones."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown format profile {profile!r}; known: {sorted(PROFILES)}") from None
