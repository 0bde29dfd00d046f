"""The output format contract, parsing side: the parser's ambiguity and repair rules (rendering:
``test_format_render.py``)."""

import json

import pytest

from converters.format import (
    MAX_SEGMENT_TOKENS,
    ParseResult,
    parse_output,
    render_prompt,
    render_target,
    render_units,
    round_trips,
)
from converters.records import Event, RecordError, Schema, Units, gold_units, validate_record
from tests.helpers.format_examples import EE, EE_TEXT, NER, RE


def test_gold_units_dedup_and_merge_trigger_groups():
    assert gold_units(NER).entities == (("person", "Therese"), ("person", "Kevin"))
    twice = dict(EE, events=EE["events"] + [{"type": "adverse event", "trigger": "developed",
                                             "arguments": [{"role": "Subject", "text": "patient"},
                                                           {"role": "Treatment.Drug", "text": "IL-2"}]}])
    (group,) = gold_units(twice).events
    assert group.trigger == "developed" and len(group.arguments) == 5


def test_paper_profile_splits_spaces_by_the_substring_rule():
    text = "New York and York are cities ; Kevin Smith met Ann"
    schema = Schema("ner", ("loc", "per"), text)
    got = parse_output('{"loc": "New York York", "per": "Kevin Smith Ann"}', schema, "paper")
    assert got.units.entities == (("loc", "New York"), ("loc", "York"), ("per", "Kevin Smith"), ("per", "Ann"))
    assert got.valid
    # a value absent from the input is cut at every separator, and each piece is flagged, never dropped
    bad = parse_output('{"per": "Zed Quux Ann"}', schema, "paper")
    assert bad.units.entities == (("per", "Zed"), ("per", "Quux"), ("per", "Ann"))
    assert set(bad.not_in_input) == {"Zed", "Quux"} and not bad.valid


def test_default_separator_inside_a_gold_span_is_kept_when_the_text_contains_it():
    text = "The band A | B played with C ."
    rec = {"id": "s", "dataset": "d", "task": "ner", "text": text, "labels": ["band"],
           "entities": [{"type": "band", "text": "A | B"}, {"type": "band", "text": "C"}]}
    assert parse_output(render_target(rec), rec).units.entities == (("band", "A | B"), ("band", "C"))


def test_re_pair_split_prefers_sides_found_in_input():
    text = "Washington, D.C. hosts the summit , said Ann ."
    schema = Schema("re", ("located",), text)
    got = parse_output('{"located": "the summit, Washington, D.C."}', schema)
    assert got.units.relations == (("located", "the summit", "Washington, D.C."),) and got.valid
    malformed = parse_output('{"located": "summit"}', schema)
    assert malformed.units.relations == () and any("pair without" in r for r in malformed.reasons)


def test_ee_arguments_containing_semicolons_and_unknown_roles():
    text = "He took aspirin; later, nausea and rash appeared."
    schema = Schema("ee", {"adverse event": ("Treatment", "Effect")}, text)
    got = parse_output('{"adverse event": "took: Treatment: aspirin; later, nausea; Effect: rash; Mood: calm"}',
                       schema)
    (event,) = got.units.events
    assert event.trigger == "took"
    assert event.arguments == (("Treatment", "aspirin; later, nausea"), ("Effect", "rash"), ("Mood", "calm"))
    assert "slot 'adverse event': unknown role 'Mood'" in got.reasons and "calm" in got.not_in_input
    assert got.off_schema == ("adverse event: Mood",)
    other = parse_output('{"adverse event": "", "birth": "took", "death": ""}', schema)
    assert other.off_schema == ("birth", "death") and other.parsed and not other.valid
    assert parse_output('{"adverse event": "took: Effect: rash"}', schema).off_schema == ()


def test_ee_several_trigger_groups_and_trigger_only_group():
    units = Units("ee", events=(Event("adverse event", "developed", (("Subject", "patient"),)),
                                Event("adverse event", "progressed")))
    schema = Schema("ee", {"adverse event": ("Subject",)}, EE_TEXT)
    target = render_units(units, schema, "sa")
    assert target == '{"adverse event": "developed: Subject: patient | progressed"}'
    assert parse_output(target, schema).units == units


@pytest.mark.parametrize("output, reason", [
    ("", "no JSON object in output"),
    ("I cannot help with that.", "no JSON object in output"),
    ('{"person": "Kevin", "person2": ', "truncated output"),
    ("{'person': 'Kevin',}", "broken JSON, repaired"),
    ('```json\n{"person": "Kevin"}\n```', "code fence around JSON"),
    ('Answer: {"person": "Kevin"}', "text before JSON"),
    ('{"person": "Kevin"} trailing words', "text after JSON"),
    ('{"person": ["Kevin", "Therese"]}', "slot 'person': list instead of string"),
    ('{"person": {"a": 1}}', "slot 'person': dict value ignored"),
    ('{"animal": "dog"}', "unknown slot 'animal'"),
])
def test_malformed_outputs_yield_units_and_a_reason(output, reason):
    got = parse_output(output, NER)
    assert reason in got.reasons and not got.valid


def test_truncated_value_is_salvaged_and_counted():
    got = parse_output('{"location": "", "person": "Kevin | Ther', NER)
    assert got.units.entities == (("person", "Kevin"), ("person", "Ther")) and got.parsed
    assert "truncated output" in got.reasons and not got.well_formed


@pytest.mark.parametrize("output, well_formed", [
    ('{"person": "Kevin"}', True),
    ('  {"person": "Kevin", "location": ""}\n', True),
    ("{}", True),
    ('{"animal": "dog"}', True),   # off-schema: a content error, not a format error
    ('{"person": "Nobody"}', True),  # not in the input: a content error
    ('```json\n{"person": "Kevin"}\n```', False),
    ('Answer: {"person": "Kevin"}', False),
    ('{"person": "Kevin"} {"person": "Kevin"}', False),
    ('{"person": ["Kevin"]}', False),
    ('{"person": null}', False),
    ("{'person': 'Kevin'}", False),
    ('{"person": "Kevin"', False),
    ("", False),
])
def test_well_formed_means_exactly_one_json_object_of_strings(output, well_formed):
    assert parse_output(output, NER).well_formed is well_formed


def test_non_text_output_is_a_reason_not_an_exception():
    got = parse_output(None, NER)
    assert got == ParseResult(Units("ner"), False, False, ("output is NoneType, not text",))
    assert got.parsed is False and got.valid is False and got.well_formed is False
    assert parse_output(3, NER).reasons == ("output is int, not text",)


@pytest.mark.parametrize(("output", "entities", "reasons"), [
    ('{"person": "Kevin"}', [("person", "Kevin")], ()),
    ('x{"person": "Kevin"}', [("person", "Kevin")], ("text before JSON",)),
    ('{"person": "Kevin"} x', [("person", "Kevin")], ("text after JSON",)),
    ('```json\n{"person": "Kevin"}\n```', [("person", "Kevin")], ("code fence around JSON",)),
    ('```\n{"person": "Kevin"}', [("person", "Kevin")], ("code fence around JSON",)),
    ("{'person': 'Kevin'}", [("person", "Kevin")], ("broken JSON, repaired",)),
    ("{'person': 'Kevin'", [("person", "Kevin")], ("broken JSON, repaired", "truncated output")),
    ("{'person': 'Kevin'} {'location': 'Therese'}", [("person", "Kevin")], ("broken JSON, repaired",)),
    ("{]", [], ("unparsable JSON",)),
    ("{,}", [], ("unparsable JSON",)),
    ("no json", [], ("no JSON object in output",)),
])
def test_what_surrounds_or_breaks_the_object_is_a_reason(output, entities, reasons):
    got = parse_output(output, NER)
    assert (list(got.units.entities), got.reasons, got.parsed) == (entities, reasons, bool(entities))
    assert got.well_formed is (not reasons)


def test_validate_record_names_the_field():
    bad = dict(NER, entities=[{"type": "person", "text": "Nobody"}])
    with pytest.raises(RecordError, match=r"data.jsonl:7: field 'entities\[0\].text'"):
        validate_record(bad, "data.jsonl:7")
    with pytest.raises(RecordError, match="unknown label 'animal'"):
        validate_record(dict(NER, entities=[{"type": "animal", "text": "Kevin"}]), "x")
    with pytest.raises(RecordError, match="'text': missing"):
        validate_record({k: v for k, v in NER.items() if k != "text"}, "x")


def test_paper_profile_ties_take_the_longest_last_value():
    """``A B C`` where both ``A B`` and ``B C`` are in the input (and ``A B C`` is not): two readings cost the same
    (nothing outside the input, two values); the segmentation keeps the longest last value, ``A | B C``."""
    schema = Schema("ner", ("loc",), "New York fans met York City fans .")
    got = parse_output(json.dumps({"loc": "New York City"}), schema, "paper")
    assert got.units.entities == (("loc", "New"), ("loc", "York City")) and got.valid
    three = parse_output(json.dumps({"loc": "New York City fans"}), schema, "paper")  # every tie the same way
    assert three.units.entities == (("loc", "New"), ("loc", "York City fans"))


def test_paper_profile_long_trigger_groups_round_trip():
    words = " ".join(f"w{i}" for i in range(80))
    text = f"The patient developed {words} after aspirin ; later she recovered ."
    rec = {"id": "long", "dataset": "d", "task": "ee", "text": text,
           "labels": {"adverse event": ["Subject", "Effect", "Treatment"]},
           "events": [{"type": "adverse event", "trigger": "developed",
                       "arguments": [{"role": "Subject", "text": "The patient"}, {"role": "Effect", "text": words},
                                     {"role": "Treatment", "text": "aspirin"}]},
                      {"type": "adverse event", "trigger": "recovered",
                       "arguments": [{"role": "Subject", "text": "she"}]}]}
    assert round_trips(rec, "sa", "paper") and round_trips(rec, "cm", "paper")


def test_values_beyond_the_search_bound_are_cut_at_every_separator():
    text = "New York is big"
    value = " ".join(["New York"] * (MAX_SEGMENT_TOKENS // 2 + 1))  # more tokens than the search covers
    got = parse_output(json.dumps({"loc": value}), Schema("ner", ("loc",), text), "paper")
    assert got.units.entities == (("loc", "New"), ("loc", "York"))
    short = parse_output(json.dumps({"loc": "New York New York"}), Schema("ner", ("loc",), text), "paper")
    assert short.units.entities == (("loc", "New York"),)


def test_an_unknown_style_is_an_error_on_every_render_path():
    for render in (lambda: render_prompt(NER, "concise"), lambda: render_target(NER, "concise"),
                   lambda: render_units(gold_units(NER), Schema("ner", ("person",), NER["text"]), "concise")):
        with pytest.raises(ValueError, match="unknown style 'concise'"):
            render()


def test_an_ee_argument_holding_a_spaced_semicolon_is_read_back_whole():
    text = "Hackers stole data ; passwords and cards from the bank ."
    schema = Schema("ee", {"attack": ("Attacker", "Target")}, text)
    got = parse_output('{"attack": "stole: Attacker: Hackers; Target: data ; passwords and cards"}', schema)
    assert got.units.events == (Event("attack", "stole", (("Attacker", "Hackers"),
                                                          ("Target", "data ; passwords and cards"))),)
    assert got.valid




def test_non_string_values_are_read_leniently_and_noted():
    got = parse_output(json.dumps({"person": ["Kevin", ["Therese"], 3, None, "  "], "location": {"a": 1}}), NER)
    assert got.units.entities == (("person", "Kevin"), ("person", "Therese"), ("person", "3"))
    assert got.reasons[:3] == ("slot 'person': list instead of string", "slot 'person': int instead of string",
                               "slot 'location': dict value ignored")
    assert parse_output('{"person": true, "location": 1.5}', NER).listed == (("person", "true"),
                                                                            ("location", "1.5"))
    assert parse_output('{"person": "  "}', NER).units.entities == ()


def test_re_pairs_are_grounded_and_empty_pieces_noted():
    got = parse_output('{"used for": "\'hand-crafted rules, basic syntactic knowledge | "}', RE)
    assert got.units.relations == (("used for", "hand-crafted rules", "basic syntactic knowledge"),)
    assert got.reasons[:2] == ("slot 'used for': value \"'hand-crafted rules\" read as 'hand-crafted rules'",
                               "slot 'used for': empty value")


def test_a_trigger_holding_the_role_separator_ends_where_a_known_role_begins():
    text = "Note: died suddenly , said Ann ."
    schema = Schema("ee", {"die": ("Victim",)}, text)
    got = parse_output('{"die": "Note: died: Victim: Ann"}', schema)
    assert got.units.events == (Event("die", "Note: died", (("Victim", "Ann"),)),) and got.valid


# ----------------------------------------------------------------------------------- EE trigger groups

ATTACK_TEXT = "Rebels attacked the town and troops shelled the old base ."
ATTACK = Schema("ee", {"attack": ("Attacker", "Target"), "die": ("Victim",)}, ATTACK_TEXT)
TWO_GROUPS = (Event("attack", "attacked", (("Attacker", "Rebels"), ("Target", "the town"))),
              Event("attack", "shelled", (("Attacker", "troops"), ("Target", "the old base"))))


@pytest.mark.parametrize(("profile", "sep"), [("default", " | "), ("paper", " ")])
def test_several_trigger_groups_of_one_type_are_cut_apart(profile, sep):
    value = sep.join(["attacked: Attacker: Rebels; Target: the town",
                      "shelled: Attacker: troops; Target: the old base"])
    got = parse_output(json.dumps({"attack": value, "die": ""}), ATTACK, profile)
    assert got.units.events == TWO_GROUPS and got.valid, got.reasons


def test_paper_profile_groups_start_a_few_words_before_their_trigger_and_role():
    text = "the armed rebels quickly attacked the town ; soldiers shelled it ."
    schema = Schema("ee", {"attack": ("Attacker", "Target")}, text)
    value = "quickly attacked: Attacker: the armed rebels; Target: the town shelled: Attacker: soldiers; Target: it"
    got = parse_output(json.dumps({"attack": value}), schema, "paper")
    assert got.units.events == (
        Event("attack", "quickly attacked", (("Attacker", "the armed rebels"), ("Target", "the town"))),
        Event("attack", "shelled", (("Attacker", "soldiers"), ("Target", "it")))) and got.valid
    trigger_only = parse_output(json.dumps({"attack": "attacked shelled"}), Schema("ee", {"attack": ("A",)}, text),
                                "paper")  # no 'TRIGGER: ROLE:' marker: any word may start a group
    assert trigger_only.units.events == (Event("attack", "attacked"), Event("attack", "shelled"))


def test_trigger_group_parts_that_break_the_format_are_noted():
    got = parse_output(json.dumps({"attack": "attacked: Rebels; Target: the town | shelled: Weapon: guns"}), ATTACK)
    assert got.units.events == (Event("attack", "attacked", (("Target", "the town"),)),
                                Event("attack", "shelled", (("Weapon", "guns"),)))
    assert got.reasons == ("slot 'attack': argument without role: 'Rebels'", "slot 'attack': unknown role 'Weapon'",
                           "1 value(s) not in the input")
    assert got.off_schema == ("attack: Weapon",) and got.not_in_input == ("guns",)
    empty = parse_output(json.dumps({"attack": "attacked |  | shelled"}), ATTACK)
    assert empty.units.events == (Event("attack", "attacked"), Event("attack", "shelled"))
    assert empty.reasons == ("slot 'attack': empty trigger group",)
    no_trigger = parse_output(json.dumps({"attack": ": Attacker: Rebels"}), ATTACK)
    assert no_trigger.units.events == () and no_trigger.reasons == ("slot 'attack': trigger group without trigger",)


def test_a_trigger_only_group_and_arguments_holding_separators():
    text = "Rebels attacked ; guns : knives and bombs were used ."
    schema = Schema("ee", {"attack": ("Attacker", "Instrument")}, text)
    got = parse_output(json.dumps({"attack": "attacked: Instrument: guns : knives; Attacker: Rebels"}), schema)
    assert got.units.events == (Event("attack", "attacked", (("Instrument", "guns : knives"), ("Attacker", "Rebels"))),)
    assert parse_output(json.dumps({"attack": "attacked"}), schema).units.events == (Event("attack", "attacked"),)
    bare = parse_output(json.dumps({"attack": "attacked: Attacker: Rebels; knives and bombs"}), schema)
    assert bare.units.events[0].arguments == (("Attacker", "Rebels; knives and bombs"),)  # no role: it continues


@pytest.mark.parametrize(("value", "read"), [
    ("Therese:", "Therese"), (":Therese", "Therese"), ("'Therese;", "Therese"),
    ("their   family", "their family"),
])
def test_stray_characters_and_spaces_are_read_away(value, read):
    got = parse_output(json.dumps({"person": value}), NER)
    assert got.units.entities == (("person", read),)
    assert got.reasons == (f"slot 'person': value {value!r} read as {read!r}",)


def test_paper_profile_two_word_values_and_the_search_bound():
    text = "New York is big"
    schema = Schema("ner", ("loc",), text)
    assert parse_output(json.dumps({"loc": "New York"}), schema, "paper").units.entities == (("loc", "New York"),)
    at_bound = " ".join(["New York"] * (MAX_SEGMENT_TOKENS // 2))  # exactly MAX_SEGMENT_TOKENS tokens: searched
    assert parse_output(json.dumps({"loc": at_bound}), schema, "paper").units.entities == (("loc", "New York"),)


def test_an_empty_ner_piece_and_a_repairer_that_gives_up_are_noted(monkeypatch):
    got = parse_output('{"person": "Kevin | "}', NER)
    assert got.units.entities == (("person", "Kevin"),) and got.reasons == ("slot 'person': empty value",)
    import converters.format.parse as fmt

    def gives_up(text):
        raise RecursionError("too deep")

    monkeypatch.setattr(fmt.json_repair, "loads", gives_up)
    assert parse_output("{'person': 'Kevin'}", NER).reasons == ("unparsable JSON",)


@pytest.mark.parametrize(("value", "read"), [("'Kevin:", "'Kevin"), (":Kevin'", "Kevin'"), (";'Kevin';", "Kevin")])
def test_grounding_drops_as_few_stray_characters_as_it_can(value, read):
    """One end first (the right, then the left), both ends last: a quote that is part of the input stays."""
    schema = Schema("ner", ("person",), "the 'Kevin' project")
    assert parse_output(json.dumps({"person": value}), schema).units.entities == (("person", read),)


def test_ee_without_roles_and_an_argument_that_reads_like_a_role():
    bare = Schema("ee", {"die": ()}, "Two died .")
    assert parse_output('{"die": "died"}', bare).units.events == (Event("die", "died"),)
    text = "Hackers stole data ; note: cards from the bank ."
    schema = Schema("ee", {"attack": ("Attacker", "Target")}, text)
    got = parse_output('{"attack": "stole: Attacker: Hackers; Target: data ; note: cards"}', schema)
    assert got.units.events == (Event("attack", "stole", (("Attacker", "Hackers"), ("Target", "data ; note: cards"))),)
    assert got.valid


def test_re_pairs_cut_where_both_sides_are_in_the_input_and_order_by_either_side():
    def pair(text: str, value: str) -> tuple:
        return parse_output(json.dumps({"r": value}), Schema("re", ("r",), text)).units.relations

    assert pair("x a, b and c .", "a, b, c") == (("r", "a, b", "c"),)  # the cut that leaves nothing outside
    assert pair("a and c .", "a, b, c") == (("r", "a", "b, c"),)  # equal costs: the first cut
    assert pair("a and b .", ", b") == ()
    rec = {"id": "o", "dataset": "d", "task": "re", "text": "Ann met Bob and Ann again .", "labels": ["r"],
           "relations": [{"type": "r", "head": "met", "tail": "Bob"}, {"type": "r", "head": "Ann", "tail": "again"}]}
    assert render_target(rec) == '{"r": "Ann, again | met, Bob"}'  # by the earlier of head and tail
