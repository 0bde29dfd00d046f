"""SFR-NER/RE/EE (Eqs. 7-10) against hand-worked cases, the Table 7 variants, clipping, format_ok and the recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from converters.records import Event, Units, gold_units
from rewards.config import RECIPE_PATH, load_sfr_config, sfr_config
from rewards.sfr import SCORE_KEYS, floor, score_response, sfr_ee, sfr_ner, sfr_re
from tests.helpers.rewards import recipe_config

ROOT = Path(__file__).resolve().parents[2]


def ner(*pairs: tuple[str, str]) -> Units:
    return Units("ner", entities=tuple(pairs))


def rel(*triples: tuple[str, str, str]) -> Units:
    return Units("re", relations=tuple(triples))


def ev(*events: Event) -> Units:
    return Units("ee", events=tuple(events))


AE, PTE = "adverse event", "potential therapeutic event"
CONFIG = recipe_config()
W_NER, W_RE, W_EE = CONFIG.ner, CONFIG.re, CONFIG.ee

# -------------------------------------------------------------------------------------- the recipe = A.3


def test_recipe_holds_the_papers_appendix_a3_values():
    raw = yaml.safe_load(RECIPE_PATH.read_text())
    assert RECIPE_PATH == ROOT / "recipes" / "reward" / "sfr.yaml"
    assert raw["ner"] == {"w_t": 0.2, "w_p": 0.8, "gamma": 1.5, "lambda_t": 0.6, "lambda_p": 0.2}
    assert raw["re"] == {"w_t": 0.05, "w_h": 0.10, "w_a": 0.10, "w_r": 0.75, "gamma": 1.3,
                         "lambda_t": 0.15, "lambda_r": 0.25}
    assert raw["ee"] == {"w_E": 0.05, "w_T": 0.15, "w_F": 0.8, "gamma": 1.0,  # gamma_EE: our choice, see YAML
                         "lambda_E": 1.0, "lambda_T": 0.5, "lambda_F": 0.3}
    assert (raw["variant"], raw["clip"]) == ("sfr", False)
    assert "profile" not in raw  # the run's format_profile is the one profile (the planner adds it)
    cfg = load_sfr_config(RECIPE_PATH, profile="paper")
    assert cfg.ner.gamma == 1.5 and cfg.re.w_r == 0.75 and cfg.ee.lambda_E == 1.0 and cfg.profile == "paper"


def test_overrides_merge_per_key_and_bad_keys_name_the_key():
    cfg = recipe_config(variant="fine_only", clip=True, ner={"gamma": 2.0})
    assert (cfg.variant, cfg.clip, cfg.ner.gamma, cfg.ner.w_t) == ("fine_only", True, 2.0, 0.2)
    with pytest.raises(ValueError, match=r"'ner.w_x'.*unknown"):
        recipe_config(ner={"w_x": 1.0})
    with pytest.raises(ValueError, match=r"'variant'.*coarse_only"):
        recipe_config(variant="coarse")
    with pytest.raises(ValueError, match=r"'re.gamma'.*> 0"):
        recipe_config(re={"gamma": 0})
    with pytest.raises(ValueError, match=r"'ee.lambda_F'.*finite number"):
        recipe_config(ee={"lambda_F": "high"})
    with pytest.raises(ValueError, match=r"'clip'"):
        recipe_config(clip="yes")
    with pytest.raises(ValueError, match=r"'profile'.*default"):
        recipe_config(profile="fancy")
    with pytest.raises(ValueError, match=r"sfr.yaml: key 'profile': missing"):
        load_sfr_config(RECIPE_PATH)


def test_config_file_errors_name_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    raw = yaml.safe_load(RECIPE_PATH.read_text())
    del raw["re"]["w_h"]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"mine\.yaml.*'re\.w_h': missing"):
        load_sfr_config(path, profile="default")
    with pytest.raises(ValueError, match=r"'extra': unknown"):
        sfr_config({**yaml.safe_load(RECIPE_PATH.read_text()), "extra": 1})


# ---------------------------------------------------------------------------------------------- Eq. 7


def test_sfr_ner_hand_worked():
    gold = ner(("person", "Obama"), ("person", "Merkel"), ("location", "Paris"))
    pred = ner(("person", "Obama"), ("location", "Berlin"), ("organisation", "CDU"))
    # T: gold {person, location}, pred adds organisation -> cov 1, Delta 1/2
    # P: 1 shared of 3 and 3 -> fl 1/3, Delta (2 + 2) / 3
    s = sfr_ner(gold, pred, W_NER)
    assert s.overall == pytest.approx(0.2 * 1 + 0.8 * (1 / 3) ** 1.5 - 0.6 * 0.5 - 0.2 * 4 / 3)
    assert (s.coverage, s.fine_f1) == (1.0, pytest.approx(1 / 3))
    assert s.penalty == pytest.approx(0.6 * 0.5 + 0.2 * 4 / 3)


def test_sfr_ner_empty_gold():
    assert sfr_ner(ner(), ner(), W_NER).overall == 1.0
    assert sfr_ner(ner(), ner(("person", "x")), W_NER).overall == pytest.approx(-0.6 - 0.2)


# ---------------------------------------------------------------------------------------------- Eq. 8


FIG9_TEXT = "Labeled data is replaced by a few hand-crafted rules that encode basic syntactic knowledge ."
FIG9 = {"id": "fig9", "dataset": "scierc", "task": "re", "text": FIG9_TEXT,
        "labels": ["conjunction", "feature of", "hyponym of", "used for", "part of", "compare", "evaluate for"],
        "relations": [{"type": "used for", "head": "hand-crafted rules", "tail": "syntactic knowledge"}]}


def test_figure9_re_case_study():
    """Paper Figure 9: the CM and SA outputs get the tail wrong, the DE output is the gold."""
    cm = ('{ "conjunction": "", "feature of": "", "hyponym of": "", "used for": "hand-crafted rules, basic '
          'syntactic knowledge", "part of": "", "compare": "", "evaluate for": "" }')
    sa = '{ "used for": "hand-crafted rules, basic syntactic knowledge" }'
    de = '{ "used for": "hand-crafted rules, syntactic knowledge" }'
    # T right (cov 1, Djac 0), H right (fl 1), A and R wrong (fl 0, Djac(R) = 1 - 0/2 = 1)
    wrong_tail = 0.05 * 1 + 0.10 * 1 + 0.10 * 0 + 0.75 * 0 - 0.15 * 0 - 0.25 * 1
    assert score_response(cm, FIG9, CONFIG).overall == pytest.approx(wrong_tail)
    assert score_response(sa, FIG9, CONFIG).overall == pytest.approx(wrong_tail)
    assert score_response(de, FIG9, CONFIG).overall == 1.0
    assert score_response(sa, FIG9, recipe_config(clip=True)).overall == 0.0


def test_sfr_re_hand_worked():
    gold = rel(("used for", "A", "B"), ("part of", "C", "D"))
    pred = rel(("used for", "A", "E"), ("compare", "C", "D"))
    # T: cov 1/2, Djac 1 - 1/3; H: fl 2*1/4; A: fl 0; R: fl 0, Djac 1
    expected = 0.05 * 0.5 + 0.10 * 0.5 + 0.10 * 0 + 0.75 * 0 - 0.15 * (2 / 3) - 0.25 * 1
    assert sfr_re(gold, pred, W_RE).overall == pytest.approx(expected)
    partial = rel(("used for", "A", "B"))  # half the triples: fl(R) = 2/3, stretched by gamma_RE = 1.3
    expected = 0.05 * 0.5 + 0.10 * (2 / 3) + 0.10 * (2 / 3) + 0.75 * (2 / 3) ** 1.3 - 0.15 * 0.5 - 0.25 * 0.5
    assert sfr_re(gold, partial, W_RE).overall == pytest.approx(expected)


# ------------------------------------------------------------------------------------------ Eqs. 9-10


def test_sfr_ee_exact_coarse_partial_fine():
    gold = ev(Event(AE, "developed", (("Subject", "patient"), ("Effect", "lesion"))))
    pred = ev(Event(AE, "developed", (("Subject", "patient"), ("Effect", "rash"))))
    s = sfr_ee(gold, pred, W_EE)  # delta_E = delta_T = 0: the fine branch lambda_F (1 - F_full), F_full = 1/2
    assert s.overall == pytest.approx(0.05 + 0.15 + 0.8 * 0.5 - 0.3 * 0.5)
    assert (s.fine_f1, s.penalty) == (0.5, pytest.approx(0.15))


def test_sfr_ee_event_mismatch_takes_precedence():
    gold = ev(Event(AE, "developed", (("Subject", "patient"),)))
    pred = ev(Event(AE, "developed", (("Subject", "patient"),)), Event(PTE, "treated", (("Effect", "x"),)))
    # delta_E = 1 -> pen = lambda_E * 1; F_full = 2*1/(1+2)
    s = sfr_ee(gold, pred, W_EE)
    assert s.overall == pytest.approx(0.05 * 1 + 0.15 * 1 + 0.8 * (2 / 3) - 1.0 * 1)
    assert s.penalty == 1.0


def test_sfr_ee_trigger_mismatch_second():
    args = (("Subject", "patient"), ("Effect", "lesion"))
    s = sfr_ee(ev(Event(AE, "developed", args)), ev(Event(AE, "caused", args)), W_EE)
    # delta_E = 0, delta_T = 2 -> pen = lambda_T * 2; arguments align despite the trigger: F_full = 1
    assert s.overall == pytest.approx(0.05 + 0.15 * 0 + 0.8 * 1 - 0.5 * 2)


def test_sfr_ee_a_trigger_under_the_wrong_event_type_is_a_wrong_trigger():
    gold = ev(Event(AE, "developed"), Event(PTE, "treated"))
    swapped = ev(Event(AE, "treated"), Event(PTE, "developed"))  # same types, same triggers, crossed
    s = sfr_ee(gold, swapped, W_EE)
    # E matches (delta_E = 0); T = (type, trigger) shares nothing: cov(T) = 0, delta_T = 4 / 2 -> lambda_T * 2
    assert s.coverage == pytest.approx(0.05 / 0.2)
    assert s.overall == pytest.approx(0.05 + 0.15 * 0 + 0.8 * 1 - 0.5 * 2) and s.penalty == 1.0


def test_sfr_ee_uses_the_optimal_alignment():
    gold = ev(Event(AE, "developed", (("R", "x"), ("R", "y"), ("R", "z"))), Event(AE, "caused", (("R", "x"),
                                                                                                ("R", "y"))))
    pred = ev(Event(AE, "developed", (("R", "x"), ("R", "y"))), Event(AE, "caused", (("R", "z"),)))
    # overlaps [[2, 1], [2, 0]]: optimum TP = 3 (greedy would give 2); F_full = 6 / (5 + 3)
    s = sfr_ee(gold, pred, W_EE)
    assert s.fine_f1 == pytest.approx(0.75)
    assert s.overall == pytest.approx(0.05 + 0.15 + 0.8 * 0.75 - 0.3 * 0.25)


def test_sfr_ee_trigger_only_groups_and_empty_gold():
    gold = ev(Event(AE, "developed"))
    assert sfr_ee(gold, ev(Event(AE, "developed")), W_EE).overall == 1.0  # no pairs anywhere: F_full = 1
    s = sfr_ee(gold, ev(Event(AE, "developed", (("Subject", "patient"),))), W_EE)
    assert (s.fine_f1, s.overall) == (0.0, pytest.approx(0.2 - 0.3))
    assert sfr_ee(ev(), ev(), W_EE).overall == 1.0


def test_sfr_ee_gamma_is_a_recipe_key():
    gold = ev(Event(AE, "developed", (("Subject", "patient"), ("Effect", "lesion"))))
    pred = ev(Event(AE, "developed", (("Subject", "patient"),)))
    w = recipe_config(ee={"gamma": 2.0}).ee
    assert sfr_ee(gold, pred, w).overall == pytest.approx(0.2 + 0.8 * (2 / 3) ** 2 - 0.3 * (1 / 3))


# --------------------------------------------------------------------------------------- Table 7 variants


NER_GOLD, NER_PRED = ner(("person", "Obama"), ("location", "Paris")), ner(("person", "Obama"), ("misc", "X"))


def test_coarse_only_and_fine_only_keep_exactly_their_terms():
    w = W_NER
    coarse = sfr_ner(NER_GOLD, NER_PRED, W_NER, variant="coarse_only")
    fine = sfr_ner(NER_GOLD, NER_PRED, W_NER, variant="fine_only")
    full = sfr_ner(NER_GOLD, NER_PRED, W_NER)
    # T: cov 1/2, Delta 2/2; P: fl 1/2, Delta 2/2
    assert full.coarse == pytest.approx(0.2 * 0.5 - 0.6 * 1)
    assert full.fine == pytest.approx(0.8 * 0.5 ** 1.5 - 0.2 * 1)
    assert full.overall == pytest.approx(full.coarse + full.fine)
    assert coarse.overall == pytest.approx(full.coarse * (w.w_t + w.w_p) / w.w_t)
    assert fine.overall == pytest.approx(full.fine * (w.w_t + w.w_p) / w.w_p)
    assert (coarse.penalty, fine.penalty) == (pytest.approx(0.6), pytest.approx(0.2))


def test_every_variant_gives_a_perfect_answer_the_same_score():
    for variant in ("sfr", "coarse_only", "fine_only"):
        assert sfr_ner(NER_GOLD, NER_GOLD, W_NER, variant=variant).overall == pytest.approx(1.0)
        assert sfr_re(rel(("a", "b", "c")), rel(("a", "b", "c")), W_RE, variant=variant).overall == pytest.approx(1.0)
        gold = ev(Event(AE, "developed", (("Subject", "patient"),)))
        assert sfr_ee(gold, gold, W_EE, variant=variant).overall == pytest.approx(1.0)


def test_coarse_only_ignores_fine_errors():
    wrong_mention = ner(("person", "Obama"), ("location", "Rome"))
    assert sfr_ner(NER_GOLD, wrong_mention, W_NER, variant="coarse_only").overall == 1.0


def test_ee_fine_only_charges_the_fine_penalty_even_on_coarse_errors():
    gold = ev(Event(AE, "developed", (("Subject", "patient"),)))
    pred = ev(Event(AE, "caused", (("Subject", "patient"), ("Effect", "x"))))
    w = W_EE
    full, fine = sfr_ee(gold, pred, W_EE), sfr_ee(gold, pred, W_EE, variant="fine_only")
    f_full = 2 * 1 / (1 + 2)
    assert fine.overall == pytest.approx((0.8 * f_full - 0.3 * (1 - f_full)) / 0.8)
    # in sfr the trigger branch of Eq. 9 replaces the fine penalty: sfr = coarse + fine + lambda_F (1 - F_full)
    assert full.overall == pytest.approx(full.coarse + full.fine + w.lambda_F * (1 - f_full))
    assert full.penalty == pytest.approx(w.lambda_T * 2)


def test_unknown_variant_and_wrong_task_raise():
    with pytest.raises(ValueError, match="variant"):
        sfr_ner(NER_GOLD, NER_GOLD, W_NER, variant="both")
    with pytest.raises(ValueError, match="ner units"):
        sfr_ner(NER_GOLD, rel(), W_NER)


# ------------------------------------------------------------------------------------ responses, format_ok


NER_REC = {"id": "n1", "dataset": "toy", "task": "ner", "text": "Obama met Merkel in Paris .",
           "labels": ["person", "location"],
           "entities": [{"type": "person", "text": "Obama"}, {"type": "person", "text": "Merkel"},
                        {"type": "location", "text": "Paris"}]}


def test_a_response_that_is_not_the_promised_object_scores_the_floor():
    bad = score_response("I cannot answer that.", NER_REC, CONFIG)
    assert (bad.format_ok, bad.valid) == (0.0, 0.0)
    assert bad.overall == floor(W_NER, "sfr") == pytest.approx(-0.6 - 0.2)
    # the floor is what an answer missing every unit of a non-empty gold scores
    assert bad.overall == sfr_ner(gold_units(NER_REC), ner(), W_NER).overall
    # ... and on a record with empty gold, garbage no longer ties with the correct answer
    empty = dict(NER_REC, entities=[])
    assert score_response("", empty, CONFIG).overall == pytest.approx(-0.8)
    assert score_response('{"person": "", "location": ""}', empty, CONFIG).overall == 1.0
    assert score_response("{}", empty, CONFIG).overall == 1.0


@pytest.mark.parametrize("variant, clip, want", [
    ("sfr", False, {"ner": -0.8, "re": -0.4, "ee": -1.0}),
    ("coarse_only", False, {"ner": -0.6 / 0.2, "re": -0.15 / 0.05, "ee": -1.0 / 0.2}),
    ("fine_only", False, {"ner": -0.2 / 0.8, "re": -0.25 / 0.95, "ee": -0.3 / 0.8}),
    ("sfr", True, {"ner": 0.0, "re": 0.0, "ee": 0.0}),
])
def test_floor_of_every_task_and_variant(variant, clip, want):
    for task, w in (("ner", W_NER), ("re", W_RE), ("ee", W_EE)):
        assert floor(w, variant, clip) == pytest.approx(want[task]), task


def test_well_formed_answers_score_their_units_and_the_rest_the_floor():
    clean = score_response('{"person": "Obama | Merkel", "location": "Paris"}', NER_REC, CONFIG)
    fenced = score_response('```json\n{"person": "Obama | Merkel", "location": "Paris"}\n```', NER_REC, CONFIG)
    assert (clean.format_ok, clean.valid, clean.overall) == (1.0, 1.0, 1.0)
    assert (fenced.format_ok, fenced.overall) == (0.0, pytest.approx(-0.8))
    assert fenced.fine_f1 == 1.0  # the sub-scores still describe what the parser recovered
    extra_slot = score_response('{"person": "Obama | Merkel", "location": "Paris", "city": "Paris"}', NER_REC,
                                CONFIG)
    assert (extra_slot.format_ok, extra_slot.valid) == (1.0, 0.0)  # well formed; an off-schema unit
    assert extra_slot.overall == sfr_ner(gold_units(NER_REC), ner(("person", "Obama"), ("person", "Merkel"),
                                                                  ("location", "Paris"), ("city", "Paris")),
                                         W_NER).overall < 1.0


def test_same_keys_for_every_task():
    assert SCORE_KEYS == ("overall", "coverage", "fine_f1", "penalty", "format_ok", "valid", "coarse", "fine")
    for score in (score_response("", NER_REC, CONFIG), score_response("{}", FIG9, CONFIG)):
        assert list(score.as_dict()) == list(SCORE_KEYS)
        assert all(isinstance(v, float) for v in score.as_dict().values())


# ------------------------------------------------------------------------ alignment paths, weights, clipping


def test_f_full_aligns_within_each_event_type_whatever_the_group_counts():
    a, b, c = ("R", "a"), ("R", "b"), ("R", "c")
    # one gold group, two predicted groups: the second one is the match
    one_two = sfr_ee(ev(Event(AE, "t", (a, b))), ev(Event(AE, "u", (c,)), Event(AE, "t", (a, b))), W_EE)
    assert one_two.fine_f1 == pytest.approx(2 * 2 / (2 + 3))
    # two gold groups, one predicted: it matches the second gold group
    two_one = sfr_ee(ev(Event(AE, "u", (c,)), Event(AE, "t", (a, b))), ev(Event(AE, "t", (a, b))), W_EE)
    assert two_one.fine_f1 == pytest.approx(2 * 2 / (3 + 2))
    # several types with several groups each: their overlaps add up
    gold = ev(Event(AE, "t", (a,)), Event(AE, "u", (b,)), Event(PTE, "v", (c,)), Event(PTE, "w", (a,)))
    assert sfr_ee(gold, gold, W_EE).fine_f1 == 1.0
    # a predicted type the gold lacks is skipped, the next one still counts
    gold = ev(Event(AE, "t", (a, b)))
    pred = ev(Event(PTE, "x", (c,)), Event(AE, "t", (a, b)))
    assert sfr_ee(gold, pred, W_EE).fine_f1 == pytest.approx(2 * 2 / (2 + 3))


def test_sfr_ee_charges_each_delta_in_proportion():
    gold = ev(Event(AE, "developed"))
    three_types = ev(Event(AE, "developed"), Event(PTE, "treated"), Event("other", "x"))
    s = sfr_ee(gold, three_types, W_EE)  # delta_E = (1 + 3 - 2) / 1 = 2
    assert s.penalty == pytest.approx(1.0 * 2)
    two = ev(Event(AE, "developed"), Event(AE, "caused"))
    half = sfr_ee(two, ev(Event(AE, "developed")), W_EE)  # delta_E = 0, delta_T = (2 + 1 - 2) / 2 = 1/2
    assert half.penalty == pytest.approx(0.5 * 0.5)


def test_every_variant_rescales_to_the_sum_of_the_gain_weights_and_clip_caps_it():
    heavy = recipe_config(ner={"w_t": 0.5, "w_p": 1.0}).ner  # W = 1.5
    for variant in ("sfr", "coarse_only", "fine_only"):
        assert sfr_ner(NER_GOLD, NER_GOLD, heavy, variant=variant).overall == pytest.approx(1.5), variant
        assert sfr_ner(NER_GOLD, NER_GOLD, heavy, variant=variant, clip=True).overall == 1.0, variant
    coarse = sfr_ner(NER_GOLD, NER_PRED, heavy, variant="coarse_only")
    assert coarse.overall == pytest.approx((0.5 * 0.5 - 0.6 * 1) * 1.5 / 0.5)
    fine = sfr_ner(NER_GOLD, NER_PRED, heavy, variant="fine_only")
    assert fine.overall == pytest.approx((1.0 * 0.5 ** 1.5 - 0.2 * 1) * 1.5 / 1.0)


def test_clip_reaches_every_entry_point():
    wrong_ner, gold_re, wrong_re = ner(("misc", "X")), gold_units(FIG9), rel(("compare", "x", "y"))
    assert sfr_ner(NER_GOLD, wrong_ner, W_NER).overall < 0 == sfr_ner(NER_GOLD, wrong_ner, W_NER, clip=True).overall
    assert sfr_re(gold_re, wrong_re, W_RE).overall < 0 == sfr_re(gold_re, wrong_re, W_RE, clip=True).overall
    gold_ee, wrong_ee = ev(Event(AE, "developed")), ev(Event(PTE, "x"))
    assert sfr_ee(gold_ee, wrong_ee, W_EE).overall < 0 == sfr_ee(gold_ee, wrong_ee, W_EE, clip=True).overall
    assert score_response("garbage", NER_REC, recipe_config(clip=True)).overall == 0.0  # the floor, clipped


def test_units_scored_directly_count_as_well_formed_and_valid():
    s = sfr_ner(NER_GOLD, NER_PRED, W_NER)
    assert (s.format_ok, s.valid) == (1.0, 1.0)


def test_a_ground_truth_is_checked_but_its_mentions_need_not_be_in_the_text():
    from converters.records import RecordError
    from rewards.sfr import prepare_gold

    loose = dict(NER_REC, entities=[{"type": "person", "text": "Obama Jr"}])  # spans are not the reward's business
    assert prepare_gold(loose).sets == (frozenset({"person"}), frozenset({("person", "Obama Jr")}))
    with pytest.raises(RecordError, match=r"^ground_truth: field 'text': missing"):
        prepare_gold({k: v for k, v in NER_REC.items() if k != "text"})
