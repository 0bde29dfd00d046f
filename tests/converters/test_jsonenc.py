"""The hand-joined JSON pieces are exactly what ``json.dumps(..., ensure_ascii=False)`` writes."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from converters.jsonenc import encode_joined, encode_str, value_json

VALUES = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                   st.lists(st.text(max_size=3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers()))


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_value_json_is_json_dumps(value: object) -> None:
    assert value_json(value) == json.dumps(value, ensure_ascii=False)


def test_escapes() -> None:
    assert value_json('a "q" \\ \n\t\x00 é 😀') == '"a \\"q\\" \\\\ \\n\\t\\u0000 é 😀"'


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_encode_joined_is_encoding_the_concatenation(head: str, tail: str) -> None:
    assert encode_joined(head, tail) == encode_str(head + tail) == json.dumps(head + tail, ensure_ascii=False)
    assert encode_joined(head, tail) == encode_str(head + tail)  # second call: head's escaping from the cache
