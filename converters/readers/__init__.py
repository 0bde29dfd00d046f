"""Readers: every supported source format -> canonical records (``converters.records``), streamed.

``read_source(spec)`` takes a plain mapping (it comes from Hydra configs) with ``format`` (one of
``FORMATS``), ``path``, and the format's options (``dataset``, ``split``, ``task``, ``strict``, ...; see each
module's docstring). With ``strict`` (the default) a malformed row raises ``RecordError`` naming the file,
line/index and field; with ``strict: false`` it is skipped and recorded in the ``ReadLog`` passed in.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Mapping

from converters.readers import canonical, conll, ie_instructions, phee, semeval
from converters.readers.source import ReadLog

FORMATS: dict[str, ModuleType] = {
    "ie_instructions": ie_instructions,
    "conll": conll,
    "semeval": semeval,
    "phee": phee,
    "canonical": canonical,
}

__all__ = ["FORMATS", "ReadLog", "read_source", "source_files"]


def _module(spec: Mapping[str, Any]) -> ModuleType:
    fmt = spec.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"source spec {dict(spec)!r}: 'format' must be one of {sorted(FORMATS)}, got {fmt!r}")
    return FORMATS[fmt]


def read_source(spec: Mapping[str, Any], read_log: ReadLog | None = None) -> Iterator[dict[str, Any]]:
    """Canonical records of one source, streamed; skips (non-strict) and documented drops go to ``read_log``.

    ``max_records: N`` (any format) keeps the source's first N records, so that one large source does not swamp
    the pool it shares with small ones (a mixture draws from the pooled records of a task in proportion)."""
    limit = spec.get("max_records")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"source spec {spec.get('path', dict(spec))!s}: 'max_records' must be a positive integer, "
                         f"got {limit!r}")
    records = _module(spec).read(spec, read_log if read_log is not None else ReadLog())
    return records if limit is None else islice(records, limit)


def source_files(spec: Mapping[str, Any]) -> list[Path]:
    """The files a source reads (for manifests and hashes)."""
    return _module(spec).source_files(spec)
