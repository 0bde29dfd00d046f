"""Scorers: raw model outputs against gold records, as precision / recall / F1 with their counts.

Predictions are the raw strings a model produced, in the order of the gold records; they are read with
``converters.format.parse_output`` against each gold record (its schema and text), and gold units come from
``converters.records.gold_units`` (the structured annotation, never a rendered target).

Scorers (``score(..., scorer=NAME)``):

- ``strict`` (default): set-based micro-F1, end to end. Units are (type, mention) for NER, (relation, head, tail)
  for RE, and for EE two scores: triggers (event type, trigger) and arguments (event type, role, argument).
  Every string is whitespace-normalised (runs of whitespace collapsed, ends stripped), case is kept, and
  duplicates inside one sentence count once; counts are summed over all sentences. ``collapsed_repeats`` counts
  the gold annotations (NER mentions, RE triples) that set semantics merged with an identical one in the same
  sentence, which is exactly why a span-level scorer such as seqeval can differ from this one.
- ``instructuie``: InstructUIE's own evaluator, quirks included, for comparison with published tables (see
  ``eval.instructuie`` and ``eval/METRICS.md``).
- ``exact_acc``: slot-level ExactAcc for custom schemas (paper Appendix A.5), see ``slot_exact_acc``.

Every result carries ``score``, the one number a table shows (F1, or accuracy where the rule is accuracy).
Under ``strict`` an unparsable output predicts nothing (``instructuie`` scores its raw text, as InstructUIE would);
why each output is or is not valid is in ``validity``. ``eval/METRICS.md`` is the metric card.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from converters.format import ParseResult, parse_output
from converters.records import Units, gold_units
from eval.counts import SetCounter
from eval.instructuie import score_instructuie

Prediction = str | ParseResult
Record = Mapping[str, Any]


def parse_predictions(gold_records: Sequence[Record], predictions: Sequence[Prediction],
                      profile: str = "default") -> list[ParseResult]:
    """Parse raw outputs against their gold records (already parsed ones pass through)."""
    if len(gold_records) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(gold_records)} gold records; "
                         "predictions must be given one per gold record, in the same order")
    return [p if isinstance(p, ParseResult) else parse_output(p, rec, profile)
            for rec, p in zip(gold_records, predictions)]


# ------------------------------------------------------------------------------------------------ strict


@lru_cache(maxsize=1 << 16)  # labels and many mentions recur across sentences
def normalise(text: str) -> str:
    """Strict-scorer normalisation: collapse whitespace runs to one space and strip; case is kept."""
    return " ".join(text.split())


def strict_items(units: Units) -> dict[str, set[tuple[str, ...]]]:
    """The strict scorer's unit sets of one sentence, keyed by what they measure."""
    n = normalise
    if units.task == "ner":
        return {"entity": {(n(t), n(m)) for t, m in units.entities}}
    if units.task == "re":
        return {"relation": {(n(r), n(h), n(t)) for r, h, t in units.relations}}
    return {
        "trigger": {(n(e.type), n(e.trigger)) for e in units.events},
        "argument": {(n(e.type), n(role), n(arg)) for e in units.events for role, arg in e.arguments},
    }


def gold_items(record: Record) -> tuple[dict[str, set[tuple[str, ...]]], int]:
    """The strict unit sets of a gold record, and how many of its annotations repeat an earlier one.

    Read straight from the annotation: under set semantics this equals ``strict_items(gold_units(record))``
    (merging same-trigger events changes no trigger or argument set) and is several times cheaper.
    """
    n = normalise
    task = record["task"]
    if task == "ee":
        events = record["events"]
        return {"trigger": {(n(e["type"]), n(e["trigger"])) for e in events},
                "argument": {(n(e["type"]), n(a["role"]), n(a["text"])) for e in events
                             for a in e.get("arguments", ())}}, 0
    if task == "ner":
        annotations = [(n(e["type"]), n(e["text"])) for e in record["entities"]]
        key = "entity"
    else:
        annotations = [(n(r["type"]), n(r["head"]), n(r["tail"])) for r in record["relations"]]
        key = "relation"
    unique = set(annotations)
    return {key: unique}, len(annotations) - len(unique)


def _strict(task: str, gold_records: Sequence[Record], parsed: Sequence[ParseResult]) -> dict[str, Any]:
    keys = ("trigger", "argument") if task == "ee" else ("entity",) if task == "ner" else ("relation",)
    counters = {k: SetCounter() for k in keys}
    collapsed = 0
    for record, result in zip(gold_records, parsed):
        gold, repeats = gold_items(record)
        pred = strict_items(result.units)
        collapsed += repeats
        for k in keys:
            counters[k].add(gold[k], pred[k])
    if task == "ee":
        return {k: counters[k].result() for k in keys}
    return {**counters[keys[0]].result(), "collapsed_repeats": collapsed}


# ------------------------------------------------------------------------------------------- ExactAcc


def _slot_values(units: Units) -> dict[str, set]:
    """Per slot, the set of its normalised values (NER mention, RE (head, tail), EE (trigger, arguments))."""
    n = normalise
    slots: dict[str, set] = {}
    for t, m in units.entities:
        slots.setdefault(n(t), set()).add(n(m))
    for r, h, t in units.relations:
        slots.setdefault(n(r), set()).add((n(h), n(t)))
    for e in units.events:
        slots.setdefault(n(e.type), set()).add((n(e.trigger), frozenset((n(r), n(a)) for r, a in e.arguments)))
    return slots


def slot_exact_acc(gold_records: Sequence[Record], parsed: Sequence[ParseResult]) -> dict[str, Any]:
    """Slot-level ExactAcc (paper Appendix A.5): a slot is right iff its predicted value equals the gold value.

    A slot's value is the set of its values, whitespace-normalised, case kept (the format joins several values
    in one string; their order and repetitions carry no information). Every schema slot of every record counts,
    empty ones included (an empty gold slot is right only when the prediction leaves it empty); an unparsable
    output gets every slot wrong. ``filled`` repeats the figure over slots whose gold value is non-empty.
    """
    per_slot: dict[str, Counter] = {}
    for record, result in zip(gold_records, parsed):
        gold, pred = _slot_values(gold_units(record)), _slot_values(result.units)
        for slot in record["labels"]:
            key = normalise(slot)
            right = result.parsed and gold.get(key, set()) == pred.get(key, set())
            c = per_slot.setdefault(slot, Counter())
            c["total"] += 1
            c["correct"] += right
            if gold.get(key):
                c["filled_total"] += 1
                c["filled_correct"] += right

    def acc(correct: int, total: int) -> float:
        return correct / total if total else 0.0

    slots = {s: {"accuracy": acc(c["correct"], c["total"]), "correct": c["correct"], "total": c["total"],
                 "filled_accuracy": acc(c["filled_correct"], c["filled_total"]), "filled_total": c["filled_total"]}
             for s, c in per_slot.items()}
    totals: Counter = sum(per_slot.values(), Counter())
    overall = acc(totals["correct"], totals["total"])
    return {"accuracy": overall, "score": overall, "correct": totals["correct"], "total": totals["total"],
            "filled_accuracy": acc(totals["filled_correct"], totals["filled_total"]), "slots": slots}


# ------------------------------------------------------------------------------------------- validity

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\d+")


def reason_kind(reason: str) -> str:
    """A reason without its specifics (quoted values, numbers), so reasons can be counted by kind."""
    return _QUOTED.sub("…", reason)


def validity(parsed: Sequence[ParseResult]) -> dict[str, Any]:
    """How many outputs were parsable, schema-conformant (only schema slots and roles) and grounded (every
    value an exact substring of the input), with the reasons counted by kind, and which records were parsed and
    valid (``records``: 0/1 per record in order, what pairs two models' rates in ``eval.intervals``)."""
    n = len(parsed)
    kinds: Counter = Counter()
    schema_ok = grounded = 0
    for r in parsed:
        kinds.update({reason_kind(x) for x in r.reasons})
        schema_ok += r.parsed and not r.off_schema
        grounded += r.parsed and not r.not_in_input

    def rate(k: int) -> float:
        return k / n if n else 0.0

    return {"n": n, "parsed_rate": rate(sum(r.parsed for r in parsed)),
            "valid_rate": rate(sum(r.valid for r in parsed)),
            "schema_rate": rate(schema_ok), "grounded_rate": rate(grounded), "reasons": dict(kinds.most_common()),
            "records": {"parsed": [int(r.parsed) for r in parsed], "valid": [int(r.valid) for r in parsed]}}


def prediction_check(result: ParseResult) -> dict[str, Any]:
    """The per-prediction verdict stored next to each prediction in reports."""
    return {"parsed": result.parsed, "valid": result.valid, "reasons": list(result.reasons),
            "not_in_input": list(result.not_in_input), "off_schema": list(result.off_schema)}


# --------------------------------------------------------------------------------------------- public


# name -> scorer(task, gold records, parsed predictions, raw outputs (None where only the parse is known))
SCORERS: dict[str, Callable[[str, Sequence[Record], Sequence[ParseResult], Sequence[str | None]], dict[str, Any]]] = {
    "strict": lambda task, gold, parsed, raw: _strict(task, gold, parsed),
    "instructuie": score_instructuie,
    "exact_acc": lambda task, gold, parsed, raw: slot_exact_acc(gold, parsed),
}


def score_part(result: Mapping[str, Any], part: str | None = None) -> dict[str, Any]:
    """A result's ``part`` (EE ``trigger`` / ``argument``) where the scorer splits EE in parts, else the result."""
    return result[part] if part is not None and part in result else result


def headline(result: Mapping[str, Any], part: str | None = None) -> float:
    """A result's ``score``, or its ``part``'s (EE ``trigger`` / ``argument``) where the scorer splits EE in parts."""
    return score_part(result, part)["score"]


RECORD_COUNT_KEYS = ("tp", "n_pred", "n_gold")  # a result's ``records``: one list per key, one entry per record


def record_counts(result: Mapping[str, Any]) -> tuple[int, int, int]:
    """A result's counts as ``(tp, n_pred, n_gold)``; an accuracy as ``(correct, n, n)`` (its F1 is the accuracy)."""
    if "tp" in result:
        return result["tp"], result["n_pred"], result["n_gold"]
    total = result["total"] if "total" in result else result["n"]  # ExactAcc: slots; EE trigger accuracy: records
    return result["correct"], total, total


def score_parts(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parts of a result that carry their own score (EE: trigger and argument), else the result itself."""
    return [result[k] for k in ("trigger", "argument") if k in result] or [result]


def _with_records(result: dict[str, Any], per_record: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``result`` with each part's per-record counts under ``records`` (what the bootstrap resamples)."""
    for i, part in enumerate(score_parts(result)):
        counts = [record_counts(score_parts(r)[i]) for r in per_record]
        part["records"] = {k: [c[j] for c in counts] for j, k in enumerate(RECORD_COUNT_KEYS)}
    return result


def score(task: str, gold_records: Sequence[Record], predictions: Sequence[Prediction], scorer: str = "strict",
          profile: str = "default", parsed: Sequence[ParseResult] | None = None,
          per_record: bool = False) -> dict[str, Any]:
    """Score raw model outputs (or ParseResults) given in the order of ``gold_records``.

    ``parsed``: the outputs already parsed (saves parsing them again). The ``instructuie`` scorer also reads the
    raw output of an unparsable answer (InstructUIE scores what the model wrote), so pass raw strings.
    Returns precision, recall, F1 (``score``) and counts; for EE a ``trigger`` and an ``argument`` result.
    ``per_record``: each result (part) also holds ``records``, the counts of every record in order
    (``{"tp": [...], "n_pred": [...], "n_gold": [...]}``, from the scorer run on that record alone; every scorer's
    dataset counts are their sums), for bootstrap intervals (``eval.bootstrap``).
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; known: {sorted(SCORERS)}")
    for i, record in enumerate(gold_records):
        if record["task"] != task:
            raise ValueError(f"gold record {i} (id {record.get('id')!r}) is a {record['task']!r} record, "
                             f"not {task!r}")
    if parsed is None:
        parsed = parse_predictions(gold_records, predictions, profile)
    elif not len(parsed) == len(predictions) == len(gold_records):
        raise ValueError(f"{len(predictions)} predictions, {len(parsed)} parses, {len(gold_records)} gold records: "
                         "give one of each per gold record, in the same order")
    raw = [p if isinstance(p, str) else None for p in predictions]
    scorer_fn = SCORERS[scorer]
    result = {"scorer": scorer, "task": task, "n": len(parsed), **scorer_fn(task, gold_records, parsed, raw)}
    if not per_record:
        return result
    return _with_records(result, [scorer_fn(task, [g], [p], [r]) for g, p, r in zip(gold_records, parsed, raw)])
