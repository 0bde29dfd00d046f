"""The ``instructuie`` scorer: InstructUIE's own evaluator (``src/calculate_f1.py`` + ``evaluation/evaluator.py``),
rule for rule, its quirks included.

Use it only to put our numbers beside published ones (ProUIE's and InstructUIE's tables come from that evaluator);
``strict`` (``eval.metrics``) is our clean scorer. ``tests/eval/test_instructuie_differential.py`` runs
InstructUIE's code on the same predictions and requires equal numbers (1e-9) for NER, RE, EET and EEA;
``tests/eval/test_instructuie_generated.py`` requires equal counts record by record on thousands of perturbed
answers per real dataset. ``eval/METRICS.md`` is the metric card (with the differences that remain). Scoring one
record takes three steps:

1. ``gold_answer``: the ``ground_truth`` string InstructUIE's loader (``uie_dataset.py``) builds for the record:
   NER ``" type: mention; ..."``; RE ``" rel: head, tail; ..."`` with NA pairs as ``NA: head, tail`` and the
   relations our reader set aside (an empty head or tail) included; EET ``" type: trigger; ..."`` with every
   ``'`` of a type or trigger written ``#$%#``; EEA ``" argument: role; ..."``; ``" None"`` when there is none.
2. ``model_answer``: our JSON answer as the string an InstructUIE model would have written: every piece the answer
   lists, in its order, repeats and repeated keys kept, each as the answer wrote it (``ParseResult.listed``: not
   read as an input substring, and a piece that is no unit, such as ``"Answer": "nothing relevant, "`` under an
   RE slot, kept too: InstructUIE counts every piece), as ``slot: piece``, joined by ``"; "``; ``"None"`` when
   the answer parses and holds nothing; the raw output itself when it holds no JSON object (InstructUIE scores
   whatever the model wrote: ``nothing found; n/a`` is two predicted items); ``""`` when only a parse is known.
   EET writes ``'`` as ``#$%#`` like its training targets. EEA (InstructUIE asks for the arguments of the gold
   event type) takes the arguments of our predicted trigger groups of the gold event type(s).
3. InstructUIE's comparison of the two strings (``normalise`` = its ``_format``):
   - NER: items = ``;`` pieces of the normalised string, every piece (``none`` and free text too), as a set
     per sentence; TP/FN/FP = |T & P|, |T - P|, |P - T|, summed over the dataset; F1 as InstructUIE computes it.
   - RE: pieces that contain ``:`` only, counted by InstructUIE's ``MetricF1NA`` (a gold item containing
     ``,na,`` is a TP unless a prediction contradicts it; a predicted one is an FP only if it contradicts a gold
     item): ``na_counts``.
   - EET: accuracy of the whole normalised answer string (order, repeats and extra events all matter).
   - EEA: pieces containing ``:``; gold pieces are cut from the raw string and normalised once, predicted ones
     cut from the normalised string and normalised again (InstructUIE's asymmetry).
   The dataset score is F1 (accuracy for EET); a task family's average is the unweighted mean (``average``).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from converters.format import ParseResult
from eval.counts import SetCounter, prf

PARTS = {"ner": ("ner",), "re": ("re",), "ee": ("eet", "eea")}  # InstructUIE task(s) scored per task
APOSTROPHE = "#$%#"  # InstructUIE writes ' as this in EE types and triggers (SINGLE_QUOTES_SUBSTITUTE)
NA_MARK = ",na,"  # what MetricF1NA looks for in a normalised RE item

_SPACED_PUNCT = re.compile(r"\s*(,|:|\(|\)|\.|_|;|'|-)\s*")
_COMMAS, _DOTS, _SEMIS = re.compile(",+"), re.compile(r"\.+"), re.compile(";+")


def instructuie_format(s: str) -> str:
    """InstructUIE's ``_format``: collapse whitespace, drop it around ``, : ( ) . _ ; ' -``, lower-case, remove
    braces, squeeze repeated ``, . ;``, ``’`` -> ``'``, every ``location`` -> ``located``."""
    s = _SPACED_PUNCT.sub(r"\1", " ".join(s.split()))
    s = s.lower().replace("{", "").replace("}", "")
    s = _SEMIS.sub(";", _DOTS.sub(".", _COMMAS.sub(",", s)))
    return s.replace("’", "'").replace("location", "located")


# ------------------------------------------------------------------------------------------ answer strings


def _ee_text(s: str) -> str:
    return s.replace("'", APOSTROPHE)


def _joined(pieces: Sequence[str], lead: str) -> str:
    """InstructUIE's answer shape: the pieces joined by ``"; "``, or ``None``."""
    return lead + "; ".join(pieces) if pieces else lead + "None"


def gold_answer(record: Mapping[str, Any], part: str) -> str:
    """The ``ground_truth`` string InstructUIE's loader builds for ``record`` (``part``: ner, re, eet, eea).

    EEA on a record with several events (InstructUIE's loader refuses them) takes the arguments of all of them.
    """
    if part == "ner":
        return _joined([f"{e['type']}: {e['text']}" for e in record["entities"]], " ")
    if part == "re":
        relations = [*record["relations"], *record.get("set_aside", {}).get("relations", ())]
        return _joined([f"{r['type']}: {r['head']}, {r['tail']}" for r in relations], " ")
    if part == "eet":
        return _joined([f"{_ee_text(e['type'])}: {_ee_text(e['trigger'])}" for e in record["events"]], " ")
    arguments = [f" {a['text']}: {a['role']}" for e in record["events"] for a in e.get("arguments", ())]
    return ";".join(arguments) if arguments else " None"


def _written(item: Any) -> str:
    """An NER or RE item of ``ParseResult.listed`` as the answer wrote it (a piece that is no unit as it is)."""
    return item if isinstance(item, str) else ", ".join(item)


def model_answer(raw: str | None, parsed: ParseResult, record: Mapping[str, Any], part: str) -> str:
    """Our answer as the string an InstructUIE model would have written (see the module docstring, step 2)."""
    if not parsed.parsed:
        return raw if raw is not None else ""
    if part in ("ner", "re"):
        pieces = [f"{slot}: {_written(item)}" for slot, item in parsed.listed]
    elif part == "eet":
        pieces = [f"{_ee_text(slot)}: {_ee_text(item if isinstance(item, str) else item[0])}"
                  for slot, item in parsed.listed]
    else:
        gold_types = {e["type"] for e in record["events"]}
        pieces = [f"{arg}: {role}" for slot, item in parsed.listed if slot in gold_types and not isinstance(item, str)
                  for role, arg in item[1]]
    return _joined(pieces, "")


# ------------------------------------------------------------------------------------------- comparison


def answer_items(part: str, answer: str, is_gold: bool) -> set[str]:
    """The per-sentence item set InstructUIE compares (NER, RE, EEA; ``is_gold`` matters for EEA only)."""
    if part == "ner":
        return {instructuie_format(x) for x in instructuie_format(answer).split(";")}
    if part == "re":
        return {item for x in instructuie_format(answer).split(";") if ":" in (item := instructuie_format(x))}
    pieces = answer.split(";") if is_gold else instructuie_format(answer).split(";")
    return {instructuie_format(x) for x in pieces if ":" in x}


def _contradicts(item: str, others: set[str]) -> bool:
    """Whether ``item`` (holding ``,na,``) matches another item with a relation other than ``na`` there."""
    pattern = re.compile(re.escape(item).replace(NA_MARK, ",(.+),"))
    return any((m := pattern.match(other)) is not None and m.group(1) != "na" for other in others)


def na_counts(truth: set[str], pred: set[str]) -> tuple[int, int, int]:
    """(TP, FN, FP) of one sentence's RE items under InstructUIE's ``MetricF1NA``."""
    tp = fn = fp = 0
    for item in truth:
        if NA_MARK in item:
            tp += not _contradicts(item, pred)
        elif item in pred:
            tp += 1
        else:
            fn += 1
    for item in pred:
        fp += _contradicts(item, truth) if NA_MARK in item else item not in truth
    return tp, fn, fp


def score_answers(part: str, golds: Sequence[str], preds: Sequence[str]) -> dict[str, Any]:
    """InstructUIE's score of one dataset from its gold and predicted answer strings."""
    if part == "eet":
        correct = sum(instructuie_format(g) == instructuie_format(p) for g, p in zip(golds, preds))
        n = len(golds)
        accuracy = correct / n if n else 0
        return {"accuracy": accuracy, "score": accuracy, "correct": correct, "n": n}
    if part == "re":
        tp = fn = fp = 0
        for g, p in zip(golds, preds):
            counts = na_counts(answer_items(part, g, True), answer_items(part, p, False))
            tp, fn, fp = tp + counts[0], fn + counts[1], fp + counts[2]
        return prf(tp, tp + fp, tp + fn)
    counter = SetCounter()
    for g, p in zip(golds, preds):
        counter.add(answer_items(part, g, True), answer_items(part, p, False))
    return counter.result()


def score_instructuie(task: str, gold_records: Sequence[Mapping[str, Any]], parsed: Sequence[ParseResult],
                      raw: Sequence[str | None] | None = None) -> dict[str, Any]:
    """Per-dataset InstructUIE scores of parsed predictions (``raw``: the outputs, for unparsable ones)."""
    raws = raw if raw is not None else [None] * len(parsed)
    results = {}
    for part in PARTS[task]:
        golds = [gold_answer(r, part) for r in gold_records]
        preds = [model_answer(o, p, r, part) for o, p, r in zip(raws, parsed, gold_records)]
        results[part] = score_answers(part, golds, preds)
    if task == "ee":
        return {"trigger": results["eet"], "argument": results["eea"]}
    return results[task]


def average(scores: Sequence[float]) -> float:
    """The unweighted mean over datasets, as ``calculate_f1``'s ``Average`` row (0 for none)."""
    return sum(scores) / len(scores) if scores else 0.0
