"""Texts longer than a model's context: cut at sentence boundaries, extract per piece, merge into one answer.

A model trained on sentences is asked about one piece at a time. ``sentence_spans`` finds the sentences (an end mark
``. ! ?`` followed by whitespace, ``。 ！ ？``, or a line break); ``pack`` joins consecutive sentences into the longest
pieces whose prompt still fits, and refuses (``TooLong``) when one sentence alone does not: nothing is ever cut
inside a sentence or dropped. ``merge_rows`` joins the pieces' answers: the units of every piece (duplicates
once), one verdict for the whole, and each piece with its character offsets in the original text
(``text[start:end]`` is the piece).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from converters.format import ParseResult
from converters.records import Units
from eval.metrics import prediction_check

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*|\s*\n\s*")  # CJK marks need no space after them


class TooLong(ValueError):
    """A piece of text that does not fit however it is cut: ``start``/``end`` locate it in the text."""

    def __init__(self, start: int, end: int, message: str) -> None:
        self.start, self.end = start, end
        super().__init__(message)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every sentence, without the whitespace between sentences; empty text has none."""
    spans, start = [], 0
    for gap in _SENTENCE_END.finditer(text):
        if gap.start() > start:
            spans.append((start, gap.start()))
        start = gap.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def pack(text: str, fits: Callable[[str], bool]) -> list[tuple[int, int]]:
    """Consecutive sentences joined into the longest pieces for which ``fits(piece)`` holds, in text order.

    Greedy: a piece grows by one sentence while it still fits. Raises ``TooLong`` for a sentence that does not
    fit on its own.
    """
    pieces: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        if pieces and fits(text[pieces[-1][0]:end]):
            pieces[-1] = (pieces[-1][0], end)
        elif fits(text[start:end]):
            pieces.append((start, end))
        else:
            raise TooLong(start, end, f"the sentence at characters {start}-{end} does not fit the model's context "
                                      "on its own")
    return pieces


def merge_rows(text: str, task: str, pieces: Sequence[tuple[int, int]], outputs: Sequence[str],
               parsed: Sequence[ParseResult]) -> dict[str, Any]:
    """One answer for ``text`` from its pieces' outputs: the units of all pieces in order (duplicates once), valid
    and parsed when every piece is, the reasons of all, and ``pieces``: each one's offsets, output and verdict."""
    units = Units.of(task, dict.fromkeys(item for p in parsed for item in p.units.items))
    rows = [{"start": s, "end": e, "output": out, **prediction_check(p)}
            for (s, e), out, p in zip(pieces, outputs, parsed)]

    def union(key: str) -> list[str]:
        return list(dict.fromkeys(x for row in rows for x in row[key]))

    return {"text": text, **units.to_json(), "parsed": all(p.parsed for p in parsed),
            "valid": all(p.valid for p in parsed), "reasons": union("reasons"),
            "not_in_input": union("not_in_input"), "off_schema": union("off_schema"), "pieces": rows}
