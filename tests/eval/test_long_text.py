"""Long texts: sentence pieces that fit, nothing cut inside a sentence, answers merged with offsets."""

from __future__ import annotations

import pytest

from converters.format import parse_output
from converters.records import Schema
from eval.long_text import TooLong, merge_rows, pack, sentence_spans

TEXT = "Anna met Bob .  Bob lives in Rome!\nRome is big? Yes 。Done"


def test_sentences_end_at_end_marks_and_line_breaks() -> None:
    spans = sentence_spans(TEXT)
    assert [TEXT[s:e] for s, e in spans] == ["Anna met Bob .", "Bob lives in Rome!", "Rome is big?", "Yes 。", "Done"]
    assert sentence_spans("") == [] and sentence_spans("  \n ") == []
    assert sentence_spans("3.5 kg of it.") == [(0, 13)]  # a point inside a number ends nothing


def test_pieces_are_the_longest_runs_of_sentences_that_fit() -> None:
    pieces = pack(TEXT, lambda piece: len(piece) <= 35)
    assert [TEXT[s:e] for s, e in pieces] == ["Anna met Bob .  Bob lives in Rome!", "Rome is big? Yes 。Done"]
    assert pack(TEXT, lambda piece: True) == [(0, len(TEXT))]
    with pytest.raises(TooLong, match="the sentence at characters 16-34 does not fit") as err:
        pack(TEXT, lambda piece: len(piece) <= 15)
    assert (err.value.start, err.value.end) == (16, 34)


def test_merged_answer_keeps_every_piece_unit_once_with_the_piece_offsets() -> None:
    pieces = [(0, 34), (35, len(TEXT))]
    outputs = ['{"person": "Anna | Bob", "city": "Rome"}', '{"city": "Rome", "person": "Zed"}']
    schemas = [Schema("ner", ("person", "city"), TEXT[s:e]) for s, e in pieces]
    parsed = [parse_output(out, schema) for out, schema in zip(outputs, schemas)]
    row = merge_rows(TEXT, "ner", pieces, outputs, parsed)
    assert row["entities"] == [{"type": "person", "text": "Anna"}, {"type": "person", "text": "Bob"},
                               {"type": "city", "text": "Rome"}, {"type": "person", "text": "Zed"}]
    assert row["text"] == TEXT and row["parsed"] is True
    assert row["valid"] is False and row["not_in_input"] == ["Zed"]  # the second piece's answer is not grounded
    assert [(p["start"], p["end"], p["output"], p["valid"]) for p in row["pieces"]] == [
        (0, 34, outputs[0], True), (35, len(TEXT), outputs[1], False)]
