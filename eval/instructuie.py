"""The ``instructuie`` scorer: the rules behind InstructUIE-style published tables, over our parsed units.

Use it only to compare with published numbers (ProUIE's tables follow InstructUIE's evaluator,
BeyonderXX/InstructUIE ``src/evaluation/evaluator.py``); report ``strict`` otherwise. InstructUIE scores strings of
the form ``type: mention; type: mention`` (or ``None``). Our models answer JSON, so each side is first rendered
into the string InstructUIE would have compared, then InstructUIE's procedure is applied to it unchanged:

1. Normalisation (``instructuie_format`` = InstructUIE ``_format``), applied to gold and prediction alike: collapse
   whitespace; delete whitespace around ``, : ( ) . _ ; ' -``; lowercase; remove ``{`` ``}``; squeeze repeated
   ``,`` ``.`` ``;``; ``’`` -> ``'``; every ``location`` -> ``located``.
2. Items are the ``;``-separated pieces of the normalised string, put in a per-sentence set (repeats collapse);
   micro TP/FP/FN are summed over the sentences of one dataset.
3. NER "None" credit: an entity-less gold sentence is the string ``None``, i.e. the item ``none``. A prediction
   that parses and holds no entity is InstructUIE's ``None`` answer (item ``none``: TP 1 on such a sentence,
   FP 1 on a sentence with entities). An unparsable output is InstructUIE's empty answer ``""``: the item ``""``
   (FP 1, plus FN 1 for the gold ``none`` on an empty sentence).
4. RE: items ``rel:head,tail``; only items containing ``:`` are kept, so ``None`` (and an unparsable output) is
   the empty set: no credit for empty sentences.
5. EE trigger (InstructUIE ``EvaluatorEET`` / ``MetricAcc``): the whole normalised ``type: trigger; ...`` string
   of the prediction must equal the gold one; the score is the fraction of sentences where it does (reported as
   ``accuracy`` and ``score``). Order matters in InstructUIE because a model emits its training target's order;
   the equivalent here is gold in the order our target lists it (schema order, then first appearance in the
   text, as ``render_target``) and prediction in the order the output lists it. Empty gold is ``None``; a parsed
   empty prediction is ``None``; an unparsable output is ``""``.
6. EE argument: InstructUIE's ``EvaluatorEEA`` scores items ``argument:role`` given the gold event type in the
   prompt. Our model extracts end to end, so the event type is part of each item, ``type:argument:role``
   (after normalisation), scored as a set F1 as in rule 2 with rule 4's ``:`` filter. This is stricter than
   InstructUIE's conditioned argument score; the difference is stated in every report.
7. Averages over datasets of a task family are unweighted means of the per-dataset scores (``average``).

InstructUIE also replaces ``'`` by ``#$%#`` in EE targets; being applied to both sides it cannot change a score
and is not reproduced.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from converters.format import ParseResult, target_order
from converters.records import Units, gold_units
from eval.metrics import SetCounter

_SPACED_PUNCT = re.compile(r"\s*(,|:|\(|\)|\.|_|;|'|-)\s*")
_COMMAS, _DOTS, _SEMIS = re.compile(",+"), re.compile(r"\.+"), re.compile(";+")


def instructuie_format(s: str) -> str:
    """InstructUIE's ``_format`` normalisation (rule 1)."""
    s = _SPACED_PUNCT.sub(r"\1", " ".join(s.split()))
    s = s.lower().replace("{", "").replace("}", "")
    s = _SEMIS.sub(";", _DOTS.sub(".", _COMMAS.sub(",", s)))
    return s.replace("’", "'").replace("location", "located")


def _pieces(units: Units) -> list[str]:
    if units.task == "ner":
        return [f"{t}: {m}" for t, m in units.entities]
    if units.task == "re":
        return [f"{r}: {h}, {t}" for r, h, t in units.relations]
    return [f"{e.type}: {e.trigger}" for e in units.events]


def _argument_pieces(units: Units) -> list[str]:
    return [f"{e.type}: {arg}: {role}" for e in units.events for role, arg in e.arguments]


def answer_string(units: Units | None, pieces: Callable[[Units], list[str]] = _pieces) -> str:
    """The InstructUIE answer equivalent to some units: ``a; b``, ``None`` when empty, ``""`` if unparsable."""
    if units is None:
        return ""
    found = pieces(units)
    return "; ".join(found) if found else "None"


def items(answer: str, keep_colon_only: bool) -> set[str]:
    """Rule 2 (and the ``:`` filter of rule 4): the per-sentence item set of an answer string."""
    got = set(instructuie_format(answer).split(";"))
    return {x for x in got if ":" in x} if keep_colon_only else got


def score_instructuie(task: str, gold_records: Sequence[Mapping[str, Any]],
                      parsed: Sequence[ParseResult]) -> dict[str, Any]:
    """Per-dataset InstructUIE-rule scores of parsed predictions (rules 1-6)."""
    if task in ("ner", "re"):
        counter = SetCounter()
        for record, result in zip(gold_records, parsed):
            pred_units = result.units if result.parsed else None
            counter.add(items(answer_string(gold_units(record)), task == "re"),
                        items(answer_string(pred_units), task == "re"))
        return counter.result()
    correct = 0
    arguments = SetCounter()
    for record, result in zip(gold_records, parsed):
        gold = target_order(gold_units(record), list(record["labels"]), record["text"])
        pred_units = result.units if result.parsed else None
        correct += instructuie_format(answer_string(gold)) == instructuie_format(answer_string(pred_units))
        arguments.add(items(answer_string(gold, _argument_pieces), True),
                      items(answer_string(pred_units, _argument_pieces), True))
    n = len(parsed)
    accuracy = correct / n if n else 0.0
    return {"trigger": {"accuracy": accuracy, "score": accuracy, "correct": correct, "n": n},
            "argument": arguments.result()}


def average(scores: Sequence[float]) -> float:
    """Rule 7: the unweighted mean over datasets (0 for none)."""
    return sum(scores) / len(scores) if scores else 0.0
