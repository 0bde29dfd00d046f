"""Our strict NER F1 against seqeval's strict IOB2 F1 on the bundled NCBI-disease and CrossNER test data.

Predictions are perturbed at the token-span level (dropped, added, boundary-shifted and retyped entities); the
same predicted spans give both the BIO sequence that seqeval scores and the raw JSON output string that our
scorer parses. A perturbed span never takes a (type, mention) pair that another gold or predicted span of the
sentence has, so the two scores can only differ through repeated gold mentions: on sentences without them they
must be identical, and on the full set the difference must be exactly the repeats our report counts.
"""

from __future__ import annotations

import random

import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2, Entities

from converters.bundled import bundled_spec
from converters.format import render_units
from converters.readers import read_source
from converters.records import Units, schema_of
from eval.counts import prf
from eval.metrics import score

DATASETS = ["ncbi", "crossner_ai", "crossner_literature", "crossner_music", "crossner_politics",
            "crossner_science"]

Span = tuple[str, int, int]  # (type, first token, last token + 1)


def _mention(tokens: list[str], span: Span) -> tuple[str, str]:
    return span[0], " ".join(tokens[span[1]:span[2]])


def _bio(n: int, spans: list[Span]) -> list[str]:
    tags = ["O"] * n
    for etype, s, e in spans:
        tags[s] = f"B-{etype}"
        for k in range(s + 1, e):
            tags[k] = f"I-{etype}"
    return tags


def _perturb(tokens: list[str], gold: list[Span], labels: list[str], rng: random.Random
             ) -> tuple[list[Span], int]:
    """Predicted spans for one sentence, and how many predicted spans repeat a (type, mention) pair."""
    classes: dict[tuple[str, str], list[Span]] = {}
    for span in gold:
        classes.setdefault(_mention(tokens, span), []).append(span)
    taken = set(classes)  # (type, mention) pairs a perturbed span may not produce
    pred: list[Span] = []
    occupied: set[int] = set()
    repeated_kept = 0
    for spans in classes.values():
        if len(spans) > 1:  # repeated gold mention: all occurrences kept, or all dropped
            if rng.random() < 0.7:
                pred.extend(spans)
                repeated_kept += len(spans) - 1
                occupied.update(k for _, s, e in spans for k in range(s, e))
            continue
        etype, s, e = spans[0]
        op = rng.choice(["keep", "keep", "drop", "shift", "retype"])
        candidates: list[Span] = []
        if op == "shift":
            candidates = [(etype, s - 1, e), (etype, s, e + 1), (etype, s + 1, e), (etype, s, e - 1)]
        elif op == "retype":
            candidates = [(t, s, e) for t in labels if t != etype] or [("chemical", s, e)]
        rng.shuffle(candidates)
        others = {k for t, a, b in gold if (t, a, b) != spans[0] for k in range(a, b)} | occupied
        new = next((c for c in candidates if 0 <= c[1] < c[2] <= len(tokens)
                    and not others & set(range(c[1], c[2])) and _mention(tokens, c) not in taken), None)
        if op == "drop":
            continue
        chosen = new if new is not None else spans[0]
        pred.append(chosen)
        taken.add(_mention(tokens, chosen))
        occupied.update(range(chosen[1], chosen[2]))
    if rng.random() < 0.4:  # an added entity on free tokens
        gold_tokens = {k for _, a, b in gold for k in range(a, b)}
        start = rng.randrange(len(tokens))
        add = (rng.choice(labels), start, min(len(tokens), start + rng.choice([1, 2])))
        if not (gold_tokens | occupied) & set(range(add[1], add[2])) and _mention(tokens, add) not in taken:
            pred.append(add)
    return sorted(pred, key=lambda sp: sp[1]), repeated_kept


def _counts(y_true: list[list[str]], y_pred: list[list[str]]) -> tuple[int, int, int]:
    true = {e.to_tuple() for sent in Entities(y_true, IOB2).entities for e in sent}
    pred = {e.to_tuple() for sent in Entities(y_pred, IOB2).entities for e in sent}
    return len(true & pred), len(pred), len(true)


@pytest.mark.parametrize("name", DATASETS)
def test_strict_ner_f1_equals_seqeval(name: str) -> None:
    records = list(read_source({**bundled_spec(name, "test"), "offsets": True}))
    rng = random.Random(f"seqeval-{name}")
    y_true, y_pred, outputs, repeats_kept, clean = [], [], [], 0, []
    for record in records:
        tokens = record["text"].split(" ")
        gold = [(e["type"], *e["tokens"]) for e in record["entities"]]
        assert all(" ".join(tokens[s:e]) == m["text"] for (_, s, e), m in zip(gold, record["entities"]))
        pred, kept = _perturb(tokens, gold, list(record["labels"]), rng)
        repeats_kept += kept
        y_true.append(_bio(len(tokens), gold))
        y_pred.append(_bio(len(tokens), pred))
        units = Units("ner", entities=tuple(_mention(tokens, sp) for sp in pred))
        outputs.append(render_units(units, schema_of(record)))
        clean.append(len({_mention(tokens, sp) for sp in gold}) == len(gold))

    assert sum(a != b for a, b in zip(y_true, y_pred)) > len(records) // 4  # the perturbations happened

    # sentences where no (type, mention) pair repeats: identical counts and F1
    idx = [i for i, c in enumerate(clean) if c]
    ours = score("ner", [records[i] for i in idx], [outputs[i] for i in idx])
    sub_true, sub_pred = [y_true[i] for i in idx], [y_pred[i] for i in idx]
    assert (ours["tp"], ours["n_pred"], ours["n_gold"]) == _counts(sub_true, sub_pred)
    assert ours["f1"] == f1_score(sub_true, sub_pred, mode="strict", scheme=IOB2)
    assert ours["collapsed_repeats"] == 0
    assert 0.3 < ours["f1"] < 0.95

    # full set: the difference is exactly the collapsed repeats
    full = score("ner", records, outputs)
    tp, n_pred, n_gold = _counts(y_true, y_pred)
    assert n_gold - full["n_gold"] == full["collapsed_repeats"]
    assert (tp - full["tp"], n_pred - full["n_pred"]) == (repeats_kept, repeats_kept)
    assert full["fp"] == n_pred - tp
    uncollapsed = prf(full["tp"] + repeats_kept, full["n_pred"] + repeats_kept,
                      full["n_gold"] + full["collapsed_repeats"])
    assert uncollapsed["f1"] == pytest.approx(f1_score(y_true, y_pred, mode="strict", scheme=IOB2), abs=1e-12)


def test_bundled_data_has_repeats_to_collapse() -> None:
    records = list(read_source({**bundled_spec("ncbi", "test"), "offsets": True}))
    assert score("ner", records, ["{}"] * len(records))["collapsed_repeats"] == 7
