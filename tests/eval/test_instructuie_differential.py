"""Differential test: our ``instructuie`` scorer against InstructUIE's own evaluator, run from its source
(``upstream_input("instructuie")``, ``tests/helpers/inputs.py``: imported, never copied), on the same predictions.

Two layers:
1. Strings: hypothesis draws gold and predicted answer strings from the characters and words every rule of the
   evaluator reacts to (``;``, ``:``, ``,na,``, ``None``, ``'``/``’`` next to spaces, braces, ``location``, ...);
   ``score_answers`` must give the numbers of InstructUIE's ``EvaluatorNER`` / ``RE`` / ``EET`` / ``EEA``.
2. End to end: InstructUIE's loader (``uie_dataset.py``) builds the gold of real-layout files (the real sample and
   the synthetic tree with every anomaly), our reader reads the same files, our model answers (JSON, broken JSON,
   free text, empty, repeated or reordered events, NA pairs, ...) are mapped to InstructUIE answers
   (``model_answer``) and scored by ``calculate_f1.py`` itself; our numbers must be equal to 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converters.format import render_target
from converters.readers import ReadLog, read_source
from eval.instructuie import PARTS, model_answer, score_answers
from eval.metrics import parse_predictions, score
from tests.helpers.ie_tree import write_ie_tree
from tests.helpers.inputs import upstream_input
from tests.helpers.instructuie import instructuie_instances, load_instructuie

TASK_OF = {"NER": "ner", "RE": "re", "EET": "ee", "EEA": "ee"}
PART_OF = {"NER": "ner", "RE": "re", "EET": "eet", "EEA": "eea"}
INSTRUCTION = "Extract. Option: person, location, NA \nText: {0} \nAnswer:"


@pytest.fixture(scope="module")
def upstream() -> SimpleNamespace:
    """InstructUIE's evaluator, ``calculate_f1`` and loader, imported from the upstream checkout."""
    return load_instructuie()


# ------------------------------------------------------------------------------------------- 1. strings

TOKENS = ["person", "Location", "located", "NA", "na", ",na,", " , na , ", "None", "none", ":", ": ", ";", "; ",
          ",", ", ", " ", "  ", "'", " '", "' s", "’", " ’ s", "{", "}", ".", "..", "#$%#", "-", " ( ", ")", "_",
          "Ann", "New York", "software 's", "n/a", "\t"]
ANSWER = st.lists(st.sampled_from(TOKENS), max_size=14).map("".join)
DATASET = st.lists(st.tuples(ANSWER, ANSWER), min_size=1, max_size=5)


def _theirs(upstream: SimpleNamespace, task: str, pairs: list[tuple[str, str]]) -> Any:
    evaluator = getattr(upstream.evaluator, f"Evaluator{task}")()
    for gold, pred in pairs:
        evaluator.add({"Task": task, "Dataset": "d", "Instance": {"id": "0", "sentence": "Ann is in New York .",
                                                                  "ground_truth": gold, "instruction": INSTRUCTION}},
                      pred)
    return evaluator


@pytest.mark.parametrize("task", ["NER", "RE", "EET", "EEA"])
@settings(max_examples=300, deadline=None)
@given(pairs=DATASET)
def test_every_rule_on_generated_strings(upstream: SimpleNamespace, task: str, pairs: list[tuple[str, str]]) -> None:
    ours = score_answers(PART_OF[task], [g for g, _ in pairs], [p for _, p in pairs])
    theirs = _theirs(upstream, task, pairs)
    assert ours["score"] == pytest.approx(theirs.get_metric(), abs=1e-9)
    metric = theirs.metric
    if task == "EET":
        assert ours["correct"] == sum(metric.scores)
    else:
        assert (ours["tp"], ours["fn"], ours["fp"]) == (metric.sum_TP, metric.sum_FN, metric.sum_FP)


@pytest.mark.parametrize(("task", "gold", "pred", "expected"), [
    ("NER", " None", "None", 1.0),                                   # None credit
    ("NER", " person: Ann", "nothing found; no entity; n/a", 0.0),   # three free-text pieces, three FPs
    ("RE", " NA: ann, bob", "None", 0.0),                            # NA pairs are gold items
    ("RE", " live in: ann, bob", "live in: ann, bob; no relation", 1.0),  # pieces without ':' are ignored
    ("EET", " attack: fired", "attack: fired; attack: fired", 0.0),  # a repeated event: another string
    ("EEA", " the software ’s data: victim", "the software ’s data: victim", 0.0),  # gold once, predictions twice
    ("NER", " location: Oslo", "LOCATED: oslo", 1.0),                # location -> located, any case
])
def test_named_quirks(upstream: SimpleNamespace, task: str, gold: str, pred: str, expected: float) -> None:
    assert _theirs(upstream, task, [(gold, pred)]).get_metric() == expected
    assert score_answers(PART_OF[task], [gold], [pred])["score"] == expected


# -------------------------------------------------------------------------------------------- 2. end to end


def _slots(record: dict) -> list[str]:
    return list(record["labels"])


def _empty(record: dict, i: int) -> str:
    return json.dumps({slot: "" for slot in _slots(record)})


def _free_text(record: dict, i: int) -> str:
    return ["nothing found; no entity; n/a", "", "None", "Error: none; x: y", "person: Ann; located: Paris"][i % 5]


def _truncated(record: dict, i: int) -> str:
    target = render_target(record, "sa")
    return target[: max(2, len(target) * 2 // 3)]


def _perturbed(record: dict, i: int) -> str:
    """Some units kept (one upper-cased, one respaced), one wrong unit added; EE: another type, extra groups."""
    text, slots = record["text"], _slots(record)
    words = text.split() or ["x"]
    out: dict[str, list[str]] = {}
    if record["task"] == "ner":
        for j, e in enumerate(record["entities"]):
            if j % 2 == 0:
                out.setdefault(e["type"], []).append(e["text"].upper() if j == 0 else e["text"])
        out.setdefault(slots[-1], []).append(words[0])
    elif record["task"] == "re":
        for j, r in enumerate(record["relations"]):
            head, tail = (r["tail"], r["head"]) if j == 1 else (r["head"], r["tail"])
            out.setdefault(r["type"], []).append(f"{head}, {tail}")
        out.setdefault(slots[0], []).append(f"{words[0]}, {words[-1]}")
    else:
        for j, e in enumerate(record["events"]):
            args = "; ".join(f"{a['role']}: {a['text'].replace(' ', '  ')}" for a in e["arguments"][::2])
            out.setdefault(slots[(j + i) % len(slots)], []).append(f"{e['trigger']}: {args}" if args else e["trigger"])
        out.setdefault(slots[0], []).append(words[0])
    return json.dumps({slot: " | ".join(values) for slot, values in out.items()})


def _repeated(record: dict, i: int) -> str:
    """Every unit twice, and for EE the events in reverse order."""
    target = json.loads(render_target(record, "sa"))
    items = list(target.items())[::-1] if record["task"] == "ee" else list(target.items())
    return json.dumps({slot: f"{value} | {value}" for slot, value in items})


SCENARIOS: dict[str, Callable[[dict, int], str]] = {
    "perfect_sa": lambda r, i: render_target(r, "sa"),
    "perfect_cm": lambda r, i: render_target(r, "cm"),
    "empty": _empty,
    "free_text": _free_text,
    "truncated": _truncated,
    "perturbed": _perturbed,
    "repeated": _repeated,
}

# (root, task folder of InstructUIE, our task folder, dataset, split)
TREE_SETS = [("NER", "NER", "TweetNER7", "dev"), ("NER", "NER", "Broad Tweet Corpus", "dev"),
             ("NER", "NER", "CrossNER_music", "test"), ("NER", "NER", "ncbi", "test"),
             ("RE", "RE", "kbp37", "test"), ("RE", "RE", "semval-RE", "test"), ("RE", "RE", "wiki_2", "test"),
             ("RE", "RE", "conll04", "test"),
             *((t, "EE", d, "test") for t in ("EET", "EEA") for d in ("ACE05", "CASIE", "PHEE"))]
SAMPLE_SETS = [("NER", "NER", "ncbi", "test"), ("NER", "NER", "CrossNER_AI", "test"),
               ("NER", "NER", "CrossNER_music", "test"), ("NER", "NER", "Broad Tweet Corpus", "test"),
               ("NER", "NER", "Broad Tweet Corpus", "dev"), ("RE", "RE", "semval-RE", "test"),
               ("EET", "EE", "PHEE", "test"), ("EEA", "EE", "PHEE", "test")]


def _differential(upstream: SimpleNamespace, root: Path, sets: list[tuple[str, str, str, str]], tmp: Path
                  ) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(ours, InstructUIE's) per (task, dataset, scenario)."""
    instances = instructuie_instances(upstream, root, [(t, d, s) for t, _, d, s in sets], tmp / "cache")
    lines, ours = [], {}
    for task, folder, dataset, split in sets:
        records = list(read_source({"format": "ie_instructions", "path": str(root), "task": TASK_OF[task],
                                    "task_folder": folder, "dataset": dataset, "split": split}, ReadLog()))
        kept = [instances[(task, dataset, split)][int(r["id"].rsplit("/", 1)[1])] for r in records]
        part = PART_OF[task]
        for name, scenario in SCENARIOS.items():
            outputs = [scenario(r, i) for i, r in enumerate(records)]
            result = score(TASK_OF[task], records, outputs, scorer="instructuie")
            key = f"{dataset}.{split}.{name}"
            ours[(task, key)] = (result["trigger"] if part == "eet" else result["argument"] if part == "eea"
                                 else result)["score"]
            for record, inst, output, parsed in zip(records, kept, outputs, parse_predictions(records, outputs)):
                lines.append({**inst, "Dataset": key, "Prediction": model_answer(output, parsed, record, part)})
    (tmp / "predict_eval_predictions.jsonl").write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    upstream.calculate_f1(str(tmp))
    theirs = {}
    for task in {t for t, *_ in sets}:
        for row in (tmp / "report" / f"report_{task}.tsv").read_text(encoding="utf-8").splitlines():
            name, value = row.split("\t")
            if name != "Average":
                theirs[(task, name)] = float(value)
    assert set(theirs) == set(ours)
    return {k: (ours[k], theirs[k]) for k in ours}


def _assert_equal(pairs: dict[tuple[str, str], tuple[float, float]]) -> None:
    disagree = {k: v for k, v in pairs.items() if abs(v[0] - v[1]) > 1e-9}
    assert not disagree, disagree


def test_calculate_f1_on_the_synthetic_tree_with_every_anomaly(upstream: SimpleNamespace, tmp_path: Path) -> None:
    root = write_ie_tree(tmp_path / "tree")
    pairs = _differential(upstream, root, TREE_SETS, tmp_path / "out")
    _assert_equal(pairs)
    assert len(pairs) == len(TREE_SETS) * len(SCENARIOS)
    # the quirks are exercised, not only agreed on: each of these changes a perfect answer's score
    assert pairs[("RE", "semval-RE.test.perfect_sa")][1] == 1.0          # NA pairs asked for and predicted
    assert pairs[("RE", "kbp37.test.perfect_sa")][1] < 1.0               # the set-aside relation is a miss
    assert pairs[("EEA", "CASIE.test.perfect_sa")][1] < 1.0              # gold normalised once, predictions twice
    assert pairs[("EET", "ACE05.test.perfect_sa")][1] == 1.0             # #$%# on both sides
    assert pairs[("EET", "ACE05.test.repeated")][1] == 0.0               # a repeated event is a wrong string
    assert pairs[("NER", "Broad Tweet Corpus.dev.empty")][1] > 0.0       # the None credit of the empty sentence
    assert pairs[("NER", "ncbi.test.free_text")][1] < pairs[("NER", "ncbi.test.empty")][1]


def test_calculate_f1_on_the_real_sample(upstream: SimpleNamespace, tmp_path: Path) -> None:
    pairs = _differential(upstream, upstream_input("ie_instructions_sample"), SAMPLE_SETS, tmp_path)
    _assert_equal(pairs)
    assert pairs[("RE", "semval-RE.test.empty")][1] == 0.0  # None on NA-only sentences earns nothing
    assert {task for task, _ in pairs} == set(PART_OF)
    assert set(PARTS) == {"ner", "re", "ee"}


@pytest.mark.parametrize(("gold", "pred"), [
    (" r: a, na, b", "r: a, x, b"),                  # a prediction contradicts an NA gold item
    (" r: a, na, b", "r: a, na, b"),
    (" r: a, x, b", "r: a, na, b"),                  # an NA prediction contradicts a gold item
    (" r: a, na, b; q: c, na, d", "q: c, na, d"),    # two NA gold items, both kept
    (" r: a, na, b; s: c, d", "s: c, d; r: a, y, b; t: e, na, f"),
])
def test_na_items_against_instructuie_s_own_metric(upstream: SimpleNamespace, gold: str, pred: str) -> None:
    ours = score_answers("re", [gold], [pred])
    metric = _theirs(upstream, "RE", [(gold, pred)]).metric
    assert (ours["tp"], ours["fn"], ours["fp"]) == (metric.sum_TP, metric.sum_FN, metric.sum_FP)


def test_edges_of_the_answer_strings_and_scores() -> None:
    from eval.instructuie import gold_answer, score_instructuie

    record = {"id": "e", "dataset": "d", "task": "ee", "text": "Two died .", "labels": {"die": ["victim"]},
              "events": [{"type": "die", "trigger": "died"}]}  # no arguments key
    assert gold_answer(record, "eea") == " None" and gold_answer(record, "eet") == " die: died"
    eet = score_answers("eet", [], [])
    assert (eet["accuracy"], eet["score"], eet["n"]) == (0, 0, 0)
    parsed = parse_predictions([record], ['{"die": "died"}'])
    assert score_instructuie("ee", [record], parsed)["trigger"]["score"] == 1.0  # no raw outputs given
