"""What every reader shares: the read log (skips and documented drops), row guarding, streaming file parsers.

Nothing is dropped silently. A malformed row raises ``RecordError`` (file, line or index, field) when the
source is strict; with ``strict: false`` it is skipped and recorded in the ``ReadLog`` (and logged), so stage
builders can write every skip into their manifest. Rows that a format's documented rules leave out (e.g. a
relation typed ``NA`` in IE_INSTRUCTIONS) are counted in ``ReadLog.dropped`` under a readable reason.
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


@dataclass
class ReadLog:
    """Bookkeeping of one or more reads: records yielded, malformed rows skipped, annotations dropped by rule."""

    records: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)

    def skip(self, err: RecordError) -> None:
        self.skipped.append({"where": err.where, "field": err.field, "message": str(err)})
        log.warning("skipped malformed row: %s", err)

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "skipped_count": len(self.skipped), "skipped": self.skipped,
                "dropped": dict(sorted(self.dropped.items()))}


def guarded(rows: Iterable[tuple[str, Any]], convert: Callable[[str, Any], dict[str, Any] | None],
            strict: bool, read_log: ReadLog) -> Iterator[dict[str, Any]]:
    """Convert ``(where, raw row)`` pairs; a ``RecordError`` propagates (strict) or is skipped and logged.

    ``convert`` may return None for a row that a documented rule leaves out (it counts it in ``dropped``).
    """
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
