"""JSON text written by hand where it is hot (targets, SFT rows), byte-identical to ``json.dumps(...,
ensure_ascii=False)``.

Stage builds write millions of rows. ``json.dumps`` builds a fresh C encoder for every dict it encodes, which
costs more than escaping the strings themselves, and every row repeats a long instruction whose escaping can
be cached. Callers join the pieces; tests check the result against ``json.dumps``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

__all__ = ["encode_joined", "encode_str", "value_json"]

encode_str = encode_basestring  # '"..."' with JSON escapes, non-ASCII kept (json's own C escaper)


def value_json(value: Any) -> str:
    """One JSON value as ``json.dumps`` writes it (strings through the C escaper directly)."""
    return encode_str(value) if type(value) is str else json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=256)
def _escaped_open(head: str) -> str:
    return encode_str(head)[:-1]


def encode_joined(head: str, tail: str) -> str:
    """``encode_str(head + tail)`` with the escaping of ``head`` cached (JSON escapes each character on its
    own, so the two halves escape independently): for the long prompt instructions every row starts with."""
    return _escaped_open(head) + encode_str(tail)[1:]
