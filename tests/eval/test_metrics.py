"""Scorers against hand-computed values: strict (NER/RE/EE), instructuie rule by rule, ExactAcc, validity."""

from __future__ import annotations

import json

import pytest

from converters.bundled import BUNDLED, bundled_records
from converters.format import render_target
from eval.instructuie import average, instructuie_format
from eval.metrics import score


def ner(text: str, entities: list[tuple[str, str]], labels=("person", "location")) -> dict:
    return {"id": text[:10], "dataset": "t", "task": "ner", "text": text, "labels": list(labels),
            "entities": [{"type": t, "text": m} for t, m in entities]}


def re_rec(text: str, relations: list[tuple[str, str, str]], labels=("work for", "live in")) -> dict:
    return {"id": text[:10], "dataset": "t", "task": "re", "text": text, "labels": list(labels),
            "relations": [{"type": r, "head": h, "tail": t} for r, h, t in relations]}


EE_LABELS = {"attack": ["attacker", "target"], "die": ["victim", "place"]}


def ee_rec(text: str, events: list[tuple[str, str, list[tuple[str, str]]]]) -> dict:
    return {"id": text[:10], "dataset": "t", "task": "ee", "text": text, "labels": EE_LABELS,
            "events": [{"type": t, "trigger": g, "arguments": [{"role": r, "text": a} for r, a in args]}
                       for t, g, args in events]}


def out(**slots: str) -> str:
    return json.dumps({k.replace("_", " "): v for k, v in slots.items()})


# ------------------------------------------------------------------------------------------------ strict


@pytest.mark.parametrize("name", sorted(BUNDLED))
@pytest.mark.parametrize("style", ["cm", "sa"])
def test_gold_as_prediction_scores_one(name: str, style: str) -> None:
    records = bundled_records(name, "test")
    task = records[0]["task"]
    result = score(task, records, [render_target(r, style) for r in records])
    for part in ([result["trigger"], result["argument"]] if task == "ee" else [result]):
        assert part["f1"] == 1.0 and part["fp"] == part["fn"] == 0


def test_strict_ner_hand_computed() -> None:
    gold = [
        ner("John met John Smith in Paris .", [("person", "John"), ("person", "John Smith"), ("location", "Paris"),
                                                ("person", "John")]),
        ner("Nothing here .", []),
        ner("Anna  lives in Rome .", [("person", "Anna"), ("location", "Rome")]),
    ]
    preds = [
        out(person="John | john", location="Paris | Paris"),   # tp John, Paris; fp john (case kept)
        out(person="", location="here"),                        # fp here
        "not json at all",                                      # unparsable: fn 2
    ]
    r = score("ner", gold, preds)
    assert (r["tp"], r["fp"], r["fn"], r["n_gold"], r["n_pred"]) == (2, 2, 3, 5, 4)
    assert r["collapsed_repeats"] == 1  # "John" annotated twice in sentence 1
    assert r["precision"] == 0.5 and r["recall"] == 0.4
    assert r["f1"] == pytest.approx(2 * 0.5 * 0.4 / 0.9)


def test_strict_whitespace_normalised_case_kept() -> None:
    gold = [ner("New   York is big .", [("location", "New   York")])]
    assert score("ner", gold, [out(location="New   York")])["f1"] == 1.0
    assert score("ner", gold, [out(location="new   york")])["f1"] == 0.0
    assert score("ner", gold, [out(location="New York")])["tp"] == 1  # whitespace runs collapsed on both sides


def test_strict_re_hand_computed() -> None:
    text = "Ann works for Acme and lives in Oslo ; Bob works for Acme ."
    gold = [re_rec(text, [("work for", "Ann", "Acme"), ("live in", "Ann", "Oslo"), ("work for", "Bob", "Acme"),
                          ("work for", "Ann", "Acme")])]
    pred = [out(work_for="Ann, Acme | Acme, Bob", live_in="Ann, Oslo | Bob, Oslo")]
    r = score("re", gold, pred)
    # tp: (work for, Ann, Acme), (live in, Ann, Oslo); fp: reversed Acme/Bob, (live in, Bob, Oslo); fn: Bob/Acme
    assert (r["tp"], r["fp"], r["fn"], r["collapsed_repeats"]) == (2, 2, 1, 1)
    assert r["f1"] == pytest.approx(2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))


def test_strict_ee_multi_event_and_duplicates() -> None:
    text = "The soldier fired at the crowd and two men died in Gaza ; another man died ."
    gold = [ee_rec(text, [
        ("attack", "fired", [("attacker", "soldier"), ("target", "crowd")]),
        ("die", "died", [("victim", "two men"), ("place", "Gaza")]),
        ("die", "died", [("victim", "another man")]),       # same type+trigger: merged into one group
    ])]
    pred = [out(attack="fired: attacker: soldier; target: crowd | fired: target: crowd",
                die="died: victim: two men; victim: crowd")]
    r = score("ee", gold, pred)
    # triggers: gold {(attack, fired), (die, died)} = pred -> 2/2
    assert (r["trigger"]["tp"], r["trigger"]["fp"], r["trigger"]["fn"]) == (2, 0, 0)
    # arguments: gold 5 unique; pred {attack/attacker/soldier, attack/target/crowd, die/victim/two men,
    # die/victim/crowd} -> tp 3, fp 1, fn 2 (place Gaza, victim another man)
    assert (r["argument"]["tp"], r["argument"]["fp"], r["argument"]["fn"]) == (3, 1, 2)
    assert r["argument"]["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_score_rejects_misaligned_input() -> None:
    with pytest.raises(ValueError, match="2 predictions for 1 gold records"):
        score("ner", [ner("a b", [])], ["{}", "{}"])
    with pytest.raises(ValueError, match="is a 'ner' record, not 're'"):
        score("re", [ner("a b", [])], ["{}"])
    with pytest.raises(ValueError, match="unknown scorer"):
        score("ner", [ner("a b", [])], ["{}"], scorer="loose")


# ------------------------------------------------------------------------------------ instructuie rules


def test_rule1_format_normalisation() -> None:
    assert instructuie_format("  Location :  New   York ,,  U.S.. ; ;x") == "located:new york,u.s.;x"
    assert instructuie_format("{Person}: O ’ Brien - Smith (Jr .)") == "person:o ' brien-smith(jr.)"  # ’ replaced last


def test_rule1_applies_to_both_sides_case_and_spacing() -> None:
    gold = [ner("Visit New York ( USA ) now .", [("location", "New York ( USA )")])]
    r = score("ner", gold, [out(location="new york (USA)")], scorer="instructuie")
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0)
    assert score("ner", gold, [out(location="new york (USA)")])["tp"] == 0  # strict keeps case and spacing


def test_ner_none_credit_and_free_text_pieces() -> None:
    gold = [
        ner("Nothing here .", []),                        # gold item "none"
        ner("Still nothing .", []),
        ner("Anna met Anna .", [("person", "Anna"), ("person", "Anna")]),
        ner("Bob ran .", [("person", "Bob")]),
        ner("Carl ran .", [("person", "Carl")]),
    ]
    preds = [
        out(person="", location=""),         # parsed, empty = "None": TP 1
        "nothing found; no entity; n/a",     # no JSON: scored as written, 3 pieces -> FP 3, FN 1 (the gold none)
        out(person="Anna | Anna"),           # set: TP 1
        out(person=""),                      # "None" on a sentence with entities: FP 1 (none), FN 1 (person:bob)
        "",                                  # empty output: the item "" -> FP 1, FN 1
    ]
    r = score("ner", gold, preds, scorer="instructuie")
    assert (r["tp"], r["fp"], r["fn"]) == (2, 5, 3)
    assert r["f1"] == pytest.approx(2 * (2 / 7) * (2 / 5) / (2 / 7 + 2 / 5))
    strict = score("ner", gold, preds)
    assert (strict["tp"], strict["fp"], strict["fn"]) == (1, 0, 2)  # no None credit, no free-text pieces


def test_re_colon_pieces_na_pairs_and_set_aside() -> None:
    labels = ("work for", "NA")
    gold = [re_rec("Ann met Bob .", [("NA", "Ann", "Bob")], labels),
            re_rec("Ann works for Acme .", [("work for", "Ann", "Acme")], labels),
            {**re_rec("TK sold .", [], labels), "set_aside": {"relations": [{"type": "work for", "head": "TK",
                                                                             "tail": ""}]}}]
    preds = [out(work_for="", NA=""),                # None: the NA pair is missed (FN 1)
             "work for: ann, acme; no relation",     # raw text: the piece with ':' is a TP, the other ignored
             out(work_for="", NA="")]                # the set-aside gold relation is missed (FN 1)
    r = score("re", gold, preds, scorer="instructuie")
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 2)
    strict = score("re", gold, preds)  # the raw text predicts nothing; the set-aside relation is not gold
    assert (strict["tp"], strict["fn"], strict["n_gold"]) == (0, 2, 2)
    perfect = score("re", gold, [out(NA="Ann, Bob"), out(work_for="Ann, Acme"), out()], scorer="instructuie")
    assert (perfect["tp"], perfect["fp"], perfect["fn"]) == (2, 0, 1)
    empty_side = score("re", gold[2:], [out(work_for="TK, ")], scorer="instructuie")  # the pair as InstructUIE has it
    assert (empty_side["tp"], empty_side["fp"], empty_side["fn"]) == (1, 0, 0)


def test_eet_whole_string_accuracy_order_repeats_and_apostrophes() -> None:
    text = "The soldier fired and a man died ."
    two = [("attack", "fired", []), ("die", "died", [])]
    gold = [ee_rec(text, two), ee_rec(text, two), ee_rec(text, [("attack", "fired", [])]),
            ee_rec(text, [("attack", "fired", [])]), ee_rec("Quiet day .", []), ee_rec("Quiet night .", []),
            ee_rec("They didn 't attack .", [("attack", "didn 't attack", [])])]
    preds = [
        out(attack="fired", die="died"),                       # the annotation's order: correct
        json.dumps({"die": "died", "attack": "fired"}),        # same set, other order: wrong
        out(attack="fired | fired"),                           # a repeated event: wrong
        out(attack="fired: attacker: soldier"),                # arguments do not matter to EET: correct
        out(attack="", die=""),                                # None == None: correct
        "",                                                    # "" != None: wrong
        out(attack="didn 't attack"),                          # ' written #$%# on both sides: correct
    ]
    r = score("ee", gold, preds, scorer="instructuie")
    assert (r["trigger"]["correct"], r["trigger"]["n"]) == (4, 7)
    assert r["trigger"]["score"] == pytest.approx(4 / 7)


def test_eea_arguments_of_the_gold_event_type() -> None:
    text = "The soldier fired at the crowd ."
    gold = [ee_rec(text, [("attack", "fired", [("attacker", "soldier"), ("target", "crowd")])])]
    preds = [json.dumps({"attack": "fired: attacker: Soldier", "die": "fired: victim: crowd"})]
    r = score("ee", gold, preds, scorer="instructuie")
    # attack's arguments only: soldier:attacker (tp, any case), crowd:target (fn); the die group is not asked for
    assert (r["argument"]["tp"], r["argument"]["fp"], r["argument"]["fn"]) == (1, 0, 1)
    assert score("ee", gold, preds)["argument"]["fp"] == 2  # strict: end to end, case kept


def test_eea_gold_normalised_once_predictions_twice() -> None:
    # "{" is removed after the spacing rule: once gives "a  b" (two spaces), twice "a b"
    gold = [ee_rec("x { y z", [("attack", "x", [("target", "{ y")])])]
    r = score("ee", gold, [json.dumps({"attack": "x: target: { y"})], scorer="instructuie")
    assert (r["argument"]["tp"], r["argument"]["fp"], r["argument"]["fn"]) == (0, 1, 1)


def test_rule7_unweighted_average() -> None:
    assert average([0.5, 1.0, 0.0]) == pytest.approx(0.5)
    assert average([]) == 0.0


# ---------------------------------------------------------------------------------- ExactAcc, validity


def test_slot_exact_acc() -> None:
    labels = ("body", "action", "location")
    gold = [ner("buy red shoes near Oslo", [("body", "red shoes"), ("action", "buy"), ("location", "Oslo")], labels),
            ner("find cafes", [("body", "cafes"), ("action", "find")], labels)]
    preds = [out(body="red shoes", action="buy", location=""),      # location wrong
             out(body="cafes", action="find", location="")]          # all 3 right (empty == empty)
    r = score("ner", gold, preds, scorer="exact_acc")
    assert (r["correct"], r["total"]) == (5, 6)
    assert r["slots"]["location"] == {"accuracy": 0.5, "correct": 1, "total": 2, "filled_accuracy": 0.0,
                                      "filled_total": 1}
    assert r["filled_accuracy"] == pytest.approx(4 / 5)
    assert score("ner", gold, ["oops", "{}"], scorer="exact_acc")["correct"] == 1  # "{}" leaves location empty
    unparsable = score("ner", gold, ["{}", "oops"], scorer="exact_acc")  # even the empty gold slot is wrong
    assert (unparsable["correct"], unparsable["slots"]["location"]["correct"]) == (0, 0)


def test_validity_reasons() -> None:
    from eval.metrics import parse_predictions, validity

    gold = [ner("Anna lives in Rome .", [("person", "Anna")])] * 4
    preds = [out(person="Anna"), out(person="Anne"), json.dumps({"city": "Rome"}), "nope"]
    v = validity(parse_predictions(gold, preds))
    assert (v["parsed_rate"], v["valid_rate"], v["schema_rate"], v["grounded_rate"]) == (0.75, 0.25, 0.5, 0.5)
    assert v["reasons"]["unknown slot …"] == 1 and v["reasons"]["no JSON object in output"] == 1
    assert v["records"] == {"parsed": [1, 1, 1, 0], "valid": [1, 0, 0, 0]}  # record by record, in order


# ------------------------------------------------------------------------ ExactAcc on RE / EE, edge cases


def test_slot_exact_acc_compares_whole_relation_and_event_values() -> None:
    text = "Ann works for Acme and lives in Oslo ."
    gold = [re_rec(text, [("work for", "Ann", "Acme"), ("live in", "Ann", "Oslo")])] * 4
    preds = [out(work_for="Ann, Acme", live_in="Ann, Oslo"),     # both right
             out(work_for="Acme, Ann", live_in="Ann, Oslo"),     # head and tail swapped: wrong
             out(work_for="Ann, Oslo", live_in="Ann, Oslo"),     # wrong tail
             out(work_for="Ann,  Acme", live_in="")]              # spacing normalised: right; live in empty: wrong
    r = score("re", gold, preds, scorer="exact_acc")
    assert {s: (v["correct"], v["total"]) for s, v in r["slots"].items()} == {"work for": (2, 4), "live in": (3, 4)}
    ee_text = "Rebels attacked the town ; two died there ."
    ee_gold = [ee_rec(ee_text, [("attack", "attacked", [("attacker", "Rebels"), ("target", "town")]),
                                ("die", "died", [("victim", "two")])])] * 4
    ee_preds = [out(attack="attacked: target: town; attacker: Rebels", die="died: victim: two"),  # order is free
                out(attack="attacked: attacker: Rebels", die="died: victim: two"),  # an argument missing
                out(attack="attacked: attacker: town; target: Rebels", die="died: victim: two"),  # roles swapped
                out(attack="attacked: attacker: Rebels; target: town", die="died: place: two")]  # wrong role
    e = score("ee", ee_gold, ee_preds, scorer="exact_acc")
    assert {s: v["correct"] for s, v in e["slots"].items()} == {"attack": 2, "die": 3}
    assert (e["correct"], e["total"], e["accuracy"], e["score"]) == (5, 8, 5 / 8, 5 / 8)
    mixed = score("ee", ee_gold[:1], [out(attack="died: attacker: Rebels; target: town", die="died: victim: two")],
                  scorer="exact_acc")
    assert mixed["slots"]["attack"]["correct"] == 0  # the right arguments under another trigger


def test_slot_exact_acc_filled_figures_and_empty_inputs() -> None:
    gold = [ner("Ann met Bob .", [("person", "Ann"), ("person", "Bob")]), ner("Rain .", [])]
    r = score("ner", gold, [out(person="Bob | Ann"), out(person="", location="")], scorer="exact_acc")
    assert r["slots"]["person"] == {"accuracy": 1.0, "correct": 2, "total": 2, "filled_accuracy": 1.0,
                                    "filled_total": 1}
    assert r["slots"]["location"] == {"accuracy": 1.0, "correct": 2, "total": 2, "filled_accuracy": 0.0,
                                      "filled_total": 0}
    assert (r["accuracy"], r["score"], r["correct"], r["total"], r["filled_accuracy"]) == (1.0, 1.0, 4, 4, 1.0)
    none = score("ner", [], [], scorer="exact_acc")
    assert (none["accuracy"], none["score"], none["total"], none["filled_accuracy"], none["slots"]) == (
        0.0, 0.0, 0, 0.0, {})


def test_prf_without_predictions_or_gold_is_zero_not_undefined() -> None:
    from eval.counts import prf

    assert prf(0, 0, 3) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "score": 0.0, "tp": 0, "fp": 0, "fn": 3,
                            "n_gold": 3, "n_pred": 0}
    assert prf(0, 2, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "score": 0.0, "tp": 0, "fp": 2, "fn": 0,
                            "n_gold": 0, "n_pred": 2}
    assert prf(1, 2, 4)["score"] == prf(1, 2, 4)["f1"] == pytest.approx(1 / 3)


def test_an_event_without_arguments_key_is_read_as_no_arguments() -> None:
    gold = [{**ee_rec("Two died .", []), "events": [{"type": "die", "trigger": "died"}]}]
    r = score("ee", gold, [out(die="died")])
    assert (r["trigger"]["tp"], r["argument"]["n_gold"], r["argument"]["n_pred"]) == (1, 0, 0)


# ------------------------------------------------------------------------- the public entry and its guards


def test_score_takes_raw_outputs_or_parses_and_checks_their_number() -> None:
    from eval.metrics import parse_predictions

    gold = [ner("Ann met Bob .", [("person", "Ann")]), ner("Rain in Oslo .", [("location", "Oslo")])]
    raw = [out(person="Ann"), out(location="Oslo")]
    parsed = parse_predictions(gold, raw)
    direct = score("ner", gold, raw)
    assert (direct["scorer"], direct["task"], direct["n"], direct["f1"]) == ("strict", "ner", 2, 1.0)
    assert score("ner", gold, parsed) == direct  # parsed outputs pass through
    assert score("ner", gold, raw, parsed=parsed) == direct
    assert parse_predictions(gold, parsed) == parsed and parse_predictions(gold, parsed)[0] is parsed[0]
    with pytest.raises(ValueError, match=r"^1 predictions for 2 gold records; predictions must be given one per gold "
                                         r"record, in the same order$"):
        score("ner", gold, raw[:1])
    with pytest.raises(ValueError, match=r"^2 predictions, 1 parses, 2 gold records: give one of each per gold "
                                         r"record, in the same order$"):
        score("ner", gold, raw, parsed=parsed[:1])
    with pytest.raises(ValueError, match=r"^1 predictions, 2 parses, 2 gold records"):
        score("ner", gold, raw[:1], parsed=parsed)
    with pytest.raises(ValueError, match=r"^2 predictions, 2 parses, 1 gold records"):
        score("ner", gold[:1], raw, parsed=parsed)


def test_the_profile_reaches_the_parser() -> None:
    gold = [ner("New York and Oslo .", [("location", "New York"), ("location", "Oslo")])]
    spaced = [out(location="New York Oslo")]  # the paper profile's separator
    assert score("ner", gold, spaced, profile="paper")["f1"] == 1.0
    assert score("ner", gold, spaced)["f1"] == 0.0
    assert score("ner", gold, spaced, scorer="exact_acc", profile="paper")["correct"] == 2


def test_instructuie_scores_the_raw_text_of_an_unparsable_output_and_nothing_for_a_parse_alone() -> None:
    from eval.metrics import parse_predictions

    gold = [ner("Ann met Bob .", [("person", "Ann")])]
    raw = ["person: Ann"]  # no JSON: InstructUIE reads the string itself
    assert score("ner", gold, raw, scorer="instructuie")["f1"] == 1.0
    assert score("ner", gold, parse_predictions(gold, raw), scorer="instructuie")["f1"] == 0.0


def test_headline_reads_a_part_only_where_the_scorer_splits() -> None:
    from eval.metrics import headline

    ee = {"trigger": {"score": 0.25}, "argument": {"score": 0.75}, "score": 0.5}
    assert (headline(ee), headline(ee, "trigger"), headline(ee, "argument")) == (0.5, 0.25, 0.75)
    assert headline({"score": 0.9, "accuracy": 0.9}, "trigger") == 0.9  # ExactAcc has no parts


def test_prediction_check_and_validity_of_nothing() -> None:
    from converters.format import parse_output
    from eval.metrics import prediction_check, validity

    gold = ner("Ann met Bob .", [("person", "Ann")])
    check = prediction_check(parse_output(out(person="Anne", city="Oslo"), gold))
    assert check == {"parsed": True, "valid": False,
                     "reasons": ["unknown slot 'city'", "2 value(s) not in the input"],
                     "not_in_input": ["Anne", "Oslo"], "off_schema": ["city"]}
    assert validity([]) == {"n": 0, "parsed_rate": 0.0, "valid_rate": 0.0, "schema_rate": 0.0, "grounded_rate": 0.0,
                            "reasons": {}, "records": {"parsed": [], "valid": []}}


def test_exact_acc_wrong_mentions_and_records_of_another_task() -> None:
    gold = [ner("Ann met Bob .", [("person", "Ann")])]
    assert score("ner", gold, [out(person="Bob")], scorer="exact_acc")["slots"]["person"]["correct"] == 0
    with pytest.raises(ValueError, match=r"^gold record 0 \(id 'Ann met Bo'\) is a 'ner' record, not 're'$"):
        score("re", gold, ["{}"])


# ------------------------------------------------------------------- per-record counts (for the bootstrap)


@pytest.mark.parametrize("scorer", ["strict", "instructuie"])
@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_per_record_counts_sum_to_the_dataset_counts(name: str, scorer: str) -> None:
    from eval.bootstrap import micro_f1
    from eval.metrics import record_counts, score_parts

    records = bundled_records(name, "test")[:40]
    task = records[0]["task"]
    preds = [render_target(r, "sa") if i % 3 else "nothing found; n/a" for i, r in enumerate(records)]
    result = score(task, records, preds, scorer, per_record=True)
    plain = score(task, records, preds, scorer)
    for part, plain_part in zip(score_parts(result), score_parts(plain)):
        counts = part.pop("records")
        assert part == plain_part and len(counts["tp"]) == len(records)
        totals = (sum(counts["tp"]), sum(counts["n_pred"]), sum(counts["n_gold"]))
        assert totals == record_counts(part)
        assert float(micro_f1(totals)) == pytest.approx(part["score"], abs=1e-12)
        assert 0 < part["score"] < 1 and len(set(counts["tp"])) > 1  # records differ: the bootstrap has work


def test_per_record_counts_of_accuracies_are_correct_out_of_total() -> None:
    labels = ("body", "action", "location")
    gold = [ner("buy red shoes near Oslo", [("body", "red shoes"), ("action", "buy"), ("location", "Oslo")], labels),
            ner("find cafes", [("body", "cafes"), ("action", "find")], labels)]
    preds = [out(body="red shoes", action="buy", location=""), out(body="cafes", action="find", location="")]
    from eval.metrics import record_counts

    result = score("ner", gold, preds, scorer="exact_acc", per_record=True)
    assert result["records"] == {"tp": [2, 3], "n_pred": [3, 3], "n_gold": [3, 3]}
    assert record_counts(result) == (5, 6, 6)  # slots, not the 2 records of ``n``
    ee = [ee_rec("Troops fired .", [("attack", "fired", [])]), ee_rec("Calm .", [])]
    trigger = score("ee", ee, [json.dumps({"attack": "fired"}), json.dumps({"die": "Calm"})], scorer="instructuie",
                    per_record=True)["trigger"]
    assert trigger["records"] == {"tp": [1, 0], "n_pred": [1, 1], "n_gold": [1, 1]} and trigger["accuracy"] == 0.5
