"""What every reader shares: the read log (skips and documented rules), row guarding, streaming file parsers.

Nothing disappears silently. A malformed row raises ``RecordError`` (file, line or index, field) when the
source is strict; with ``strict: false`` it is skipped and recorded in the ``ReadLog`` (and logged), so stage
builders can write every skip into their manifest. Whatever a reader's documented rules do to the data (a
relation left out, a mention stripped, a label added to the schema, an anomaly kept as it is) is noted in the
``ReadLog`` under a readable reason, with its action, its count, the first locations, and, when the rule changes
what a scorer compares, how (``scoring``): reports print that beside the number.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from converters.records import RecordError

log = logging.getLogger(__name__)

ACTIONS = ("kept", "repaired", "dropped")  # what a documented rule did; malformed rows are "skipped" instead
EXAMPLES_KEPT = 5  # locations remembered per reason


@dataclass
class Note:
    """One documented rule applied while reading: what it did, how often, where first, and its effect on scores."""

    action: str
    count: int = 0
    examples: list[str] = field(default_factory=list)
    scoring: str | None = None


@dataclass
class ReadLog:
    """Bookkeeping of one or more reads: records yielded, malformed rows skipped, rules applied, label sets seen.

    ``labels`` maps each dataset to the label set its records carry (list, or {event type: [roles]}): the
    stage manifest records it so that an evaluation can compare a benchmark's labels with the trained ones.
    """

    records: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: dict[str, Note] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)

    def skip(self, err: RecordError) -> None:
        self.skipped.append({"where": err.where, "field": err.field, "message": str(err)})
        log.warning("skipped malformed row: %s", err)

    def note(self, action: str, reason: str, where: str | None = None, scoring: str | None = None,
             count: int = 1) -> None:
        """Count one application of a documented rule (``action`` in ``ACTIONS``) under ``reason``."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")
        entry = self.notes.get(reason)
        if entry is None:
            entry = self.notes[reason] = Note(action, scoring=scoring)
        entry.count += count
        if where is not None and len(entry.examples) < EXAMPLES_KEPT:
            entry.examples.append(where)

    def count(self, action: str) -> Counter:
        """Reason -> count of the notes with one action (e.g. everything ``dropped``)."""
        return Counter({r: n.count for r, n in self.notes.items() if n.action == action})

    @property
    def dropped(self) -> Counter:
        """Reason -> count of what documented rules left out (annotations or whole records)."""
        return self.count("dropped")

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "skipped_count": len(self.skipped), "skipped": self.skipped,
                **{action: dict(sorted(self.count(action).items())) for action in ACTIONS},
                "notes": {r: {"action": n.action, "count": n.count, "examples": n.examples, "scoring": n.scoring}
                          for r, n in sorted(self.notes.items())},
                "labels": self.labels}

    def see_labels(self, dataset: str, labels: Any) -> None:
        """Merge one record's label set into ``labels[dataset]`` (types in first-seen order; EE roles merged)."""
        known = self.labels.get(dataset)
        if isinstance(labels, Mapping):
            merged = dict(known) if isinstance(known, dict) else {}
            for etype, roles in labels.items():
                merged[etype] = list(dict.fromkeys([*merged.get(etype, []), *roles]))
            self.labels[dataset] = merged
        else:
            self.labels[dataset] = list(dict.fromkeys([*(known or []), *labels]))


def guarded(rows: Iterable[tuple[str, Any]], convert: Callable[[str, Any], dict[str, Any] | None],
            strict: bool, read_log: ReadLog) -> Iterator[dict[str, Any]]:
    """Convert ``(where, raw row)`` pairs; a ``RecordError`` propagates (strict) or is skipped and logged.

    ``convert`` may return None for a row that a documented rule leaves out (it notes it in ``read_log``).
    """
    last_labels: Any = None
    last_dataset = None
    for where, raw in rows:
        try:
            if isinstance(raw, RecordError):
                raise raw
            rec = convert(where, raw)
        except RecordError as err:
            if strict:
                raise
            read_log.skip(err)
            continue
        if rec is not None:
            read_log.records += 1
            labels = rec["labels"]  # readers share one object per dataset; JSONL rows repeat equal ones
            if (labels is not last_labels and labels != last_labels) or rec["dataset"] != last_dataset:
                last_labels, last_dataset = labels, rec["dataset"]
                read_log.see_labels(last_dataset, labels)
            yield rec


def iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """``("file:line", parsed object)`` per non-blank line; a bad line yields a ``RecordError`` in its place."""
    prefix = f"{path}:"
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = prefix + str(lineno)
            try:
                yield where, json.loads(line)
            except ValueError as exc:
                yield where, RecordError(where, "<json>", f"invalid JSON: {exc}")


def iter_blocks(path: Path) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Blank-line separated blocks of a text file (CoNLL sentences, SemEval records), streamed:
    ``(first line number, [(line number, line without its line end), ...])``."""
    block: list[tuple[int, str]] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                block.append((lineno, line))
            elif block:
                yield block[0][0], block
                block = []
    if block:
        yield block[0][0], block


_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def iter_json_array(path: Path, chunk_chars: int = 1 << 20) -> Iterator[tuple[str, Any]]:
    """Stream the elements of a file holding one JSON array, without loading the whole array.

    Yields ``("file:line N (index i)", element)``. A syntax error cannot be resynchronised inside an array,
    so it raises ``RecordError`` even for non-strict reads (nothing after it could be trusted).
    """
    with open(path, encoding="utf-8") as fh:
        buf, pos, line, index = fh.read(chunk_chars), 0, 1, 0
        eof = len(buf) < chunk_chars

        def fill() -> None:
            nonlocal buf, pos, eof
            more = "" if eof else fh.read(chunk_chars)
            eof = eof or len(more) < chunk_chars
            buf, pos = buf[pos:] + more, 0

        def skip_ws() -> None:
            nonlocal pos, line
            while True:
                while pos < len(buf) and buf[pos] in _WS:
                    line += buf[pos] == "\n"
                    pos += 1
                if pos < len(buf) or eof:
                    return
                fill()

        def fail(what: str) -> RecordError:
            return RecordError(f"{path}:{line} (index {index})", "<json>", what)

        skip_ws()
        if pos >= len(buf) or buf[pos] != "[":
            raise fail("expected a JSON array ('[') at the start of the file")
        pos += 1
        skip_ws()
        if pos < len(buf) and buf[pos] == "]":
            return
        while True:
            skip_ws()
            while True:
                try:
                    obj, end = _DECODER.raw_decode(buf, pos)
                    if end < len(buf) or eof:  # a number cut at the chunk end would decode short
                        break
                    fill()
                except ValueError as exc:
                    if eof:
                        raise fail(f"invalid JSON: {exc}") from None
                    fill()
            where = f"{path}:{line} (index {index})"
            line += buf.count("\n", pos, end)
            pos = end
            yield where, obj
            index += 1
            skip_ws()
            if pos >= len(buf):
                raise fail("unterminated array")
            if buf[pos] == "]":
                return
            if buf[pos] != ",":
                raise fail(f"expected ',' or ']' between elements, got {buf[pos]!r}")
            pos += 1


def need(cond: bool, where: str, field_name: str, message: str) -> None:
    """Raise ``RecordError`` unless ``cond``."""
    if not cond:
        raise RecordError(where, field_name, message)


def spec_path(spec: Mapping[str, Any], key: str = "path") -> Path:
    """The spec's path; a missing key or file is a clear error naming the spec."""
    if key not in spec:
        raise ValueError(f"source spec {dict(spec)!r} has no {key!r}")
    path = Path(spec[key]).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"source {spec.get('format')!r}: {path} does not exist")
    return path
