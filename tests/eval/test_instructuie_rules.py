"""The ``instructuie`` scorer's rules on hand-worked cases, without InstructUIE's source: the numbers below are worked
out from InstructUIE's ``evaluation/evaluator.py`` (``MetricF1NA``, ``EvaluatorRE._extract``, ``_format``), so the
rules the differential tests check against that code are also pinned where it is absent.

``MetricF1NA`` per sentence, on the normalised ``;`` pieces that contain ``:`` (a *gold* set and a *pred* set):

- a gold item without ``,na,``: TP if it is in pred, else FN; a predicted item without ``,na,``: FP unless in gold.
  ``NA: head, tail`` (semval-RE, kbp37) normalises to ``na:head,tail``, which holds no ``,na,``: an ordinary item.
- a gold item with ``,na,`` (the old ``(head, na, tail)`` shape) is a TP unless a prediction *contradicts* it, and
  never an FN: the item with ``,na,`` made ``,(.+),`` is ``re.match``-ed (anchored at the start only) against each
  prediction; a match whose group is not ``na`` contradicts.
- a predicted item with ``,na,``: an FP only if it contradicts a gold item the same way; never a TP.
"""

from __future__ import annotations

import json

import pytest

from converters.format import parse_output
from eval.instructuie import gold_answer, score_answers
from eval.metrics import score

RE_LABELS = ["cause effect", "NA"]


def counts(result: dict) -> tuple[int, int, int]:
    return result["tp"], result["fp"], result["fn"]


def re_record(text: str, relations: list[tuple[str, str, str]], labels: list[str] = RE_LABELS, **extra) -> dict:
    return {"id": text[:8], "dataset": "t", "task": "re", "text": text, "labels": labels,
            "relations": [{"type": r, "head": h, "tail": t} for r, h, t in relations], **extra}


@pytest.mark.parametrize(("gold", "pred", "expected"), [
    (" NA: cat, mat", "None", (0, 0, 1)),                  # the NA pair is gold: answering None misses it
    (" NA: cat, mat", "NA: cat, mat", (1, 0, 0)),          # naming it is a TP
    (" cause effect: cat, mat", "NA: cat, mat", (0, 1, 1)),  # a predicted NA pair is an ordinary wrong item
    (" r: a, na, b", "None", (1, 0, 0)),                   # ',na,' gold: a TP with nothing predicted
    (" r: a, na, b", "r: a, x, b", (0, 1, 0)),             # contradicted: no TP, no FN; the prediction is an FP
    (" r: a, na, b", "r: a, na, b", (1, 0, 0)),            # a ',na,' prediction that contradicts nothing: no FP
    (" r: a, x, b", "r: a, na, b", (0, 1, 1)),             # a ',na,' prediction contradicting gold: FP, gold FN
    (" r: a, y, b", "q: c, na, d", (0, 0, 1)),             # a ',na,' prediction matching nothing: neither TP nor FP
    (" r: a, na, b", "r: a, x, bob", (0, 1, 0)),           # re.match is anchored at the start only: 'bob' contradicts
    (" r: a, na, b; r: a, na, b2", "r: a, x, b", (1, 1, 0)),  # only the gold item the prediction matches is lost
    (" R: A, NA, B", "r : a , na , b", (1, 0, 0)),         # after normalisation (case, spaces): the same as above
])
def test_metric_f1_na_on_answer_strings(gold: str, pred: str, expected: tuple[int, int, int]) -> None:
    assert counts(score_answers("re", [gold], [pred])) == expected


def test_na_rules_end_to_end_from_records_and_json_answers() -> None:
    na_pair = re_record("the cat sat on the mat .", [("NA", "cat", "mat")])
    assert gold_answer(na_pair, "re") == " NA: cat, mat"
    for output, expected in [('{"NA": "cat, mat"}', (1, 0, 0)), ('{"cause effect": "", "NA": ""}', (0, 0, 1)),
                             ('{"cause effect": "cat, mat"}', (0, 1, 1)), ('{"NA": "mat, cat"}', (0, 1, 1))]:
        assert counts(score("re", [na_pair], [output], scorer="instructuie")) == expected, output
    # a tail holding "na, " gives the gold item ",na,": credited unless contradicted
    old_shape = re_record("a na, b .", [("r", "a", "na, b")], ["r"])
    assert gold_answer(old_shape, "re") == " r: a, na, b"
    assert counts(score("re", [old_shape], ["{}"], scorer="instructuie")) == (1, 0, 0)
    assert counts(score("re", [old_shape], ['{"r": "a, x, b"}'], scorer="instructuie")) == (0, 1, 0)
    assert counts(score("re", [old_shape], ["{}"])) == (0, 0, 1)  # strict: a plain miss


def test_every_piece_under_a_relation_type_is_a_predicted_triple() -> None:
    gold = [re_record("Ann works for Acme .", [("work for", "Ann", "Acme")], ["work for"])]
    for output, expected in [
        ('{"work for": "Ann, Acme", "Answer": "nothing relevant, "}', (1, 1, 0)),  # a slot the prompt did not ask for
        ('{"work for": "Ann,Acme"}', (1, 0, 0)),    # no ', ' for our parser, the same triple for InstructUIE
        ('{"work for": "Ann, Acme | Ann"}', (1, 1, 0)),  # a piece that is no pair still holds ':' once written out
    ]:
        assert counts(score("re", gold, [output], scorer="instructuie")) == expected, output
    assert counts(score("re", gold, ['{"work for": "Ann,Acme"}'])) == (0, 0, 1)  # strict reads no pair there
    # the relation our reader set aside (empty tail) is gold for InstructUIE, and an answer written so matches it
    aside = re_record("TK and more .", [], ["subsidiaries"],
                      set_aside={"relations": [{"type": "subsidiaries", "head": "TK", "tail": ""}]})
    assert gold_answer(aside, "re") == " subsidiaries: TK, "
    assert counts(score("re", [aside], ['{"subsidiaries": "TK, "}'], scorer="instructuie")) == (1, 0, 0)
    assert counts(score("re", [aside], ['{"subsidiaries": ""}'], scorer="instructuie")) == (0, 0, 1)


def test_values_are_scored_as_written_not_as_the_parser_repairs_them() -> None:
    gold = [{"id": "n", "dataset": "t", "task": "ner", "text": "Ann met Bob .", "labels": ["person"],
             "entities": [{"type": "person", "text": "Ann"}]}]
    stray = '{"person": "Ann,"}'  # the parser reads the input substring 'Ann'; InstructUIE compares 'person:ann,'
    assert parse_output(stray, gold[0]).units.entities == (("person", "Ann"),)
    assert counts(score("ner", gold, [stray], scorer="instructuie")) == (0, 1, 1)
    assert counts(score("ner", gold, [stray])) == (1, 0, 0)
    assert counts(score("ner", gold, ['{"person": "ANN  ,"}'], scorer="instructuie")) == (0, 1, 1)
    assert counts(score("ner", gold, ['{"person": "ANN "}'], scorer="instructuie")) == (1, 0, 0)  # case, spaces


def test_a_repeated_key_is_every_value_it_holds() -> None:
    ner = {"id": "n", "dataset": "t", "task": "ner", "text": "Ann met Bob .", "labels": ["person"],
           "entities": [{"type": "person", "text": "Ann"}, {"type": "person", "text": "Bob"}]}
    for output in ('{"person": "Ann", "person": "Bob"}', '{"person": "Ann", "person": "Bob'):  # whole, or cut off
        parsed = parse_output(output, ner)
        assert parsed.listed == (("person", "Ann"), ("person", "Bob")) and "slot 'person' repeated" in parsed.reasons
        assert counts(score("ner", [ner], [output], scorer="instructuie")) == (2, 0, 0)
        assert counts(score("ner", [ner], [output])) == (2, 0, 0)
    ee = {"id": "e", "dataset": "t", "task": "ee", "text": "The soldier fired .", "labels": {"attack": ["attacker"]},
          "events": [{"type": "attack", "trigger": "fired", "arguments": [{"role": "attacker", "text": "soldier"}]}]}
    group = "fired: attacker: soldier"
    twice = score("ee", [ee], [json.dumps({"attack": group})[:-1] + f', "attack": "{group}"}}'], scorer="instructuie")
    assert twice["trigger"]["correct"] == 0  # 'attack: fired; attack: fired' is not the gold string
    assert counts(twice["argument"]) == (1, 0, 0)  # the argument set is the same
