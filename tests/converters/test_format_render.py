"""The output format contract, rendering side: prompts of Figures 4-8 word for word, and the targets."""

import json

import pytest

from converters.format import (
    CONCISE,
    prompt_parts,
    render_prompt,
    render_target,
    render_units,
    round_trips,
    target_order,
)
from converters.records import Schema, Units, gold_units, schema_of
from tests.helpers.format_examples import EE, NER, RE
from tests.helpers.inputs import upstream_input


def test_cm_targets_list_every_slot_in_schema_order_and_values_in_text_order():
    assert render_target(NER) == '{"location": "", "person": "Kevin | Therese", "organization": ""}'
    assert json.loads(render_target(RE, "cm")) == {
        "conjunction": "", "feature of": "", "hyponym of": "",
        "used for": "hand-crafted rules, basic syntactic knowledge", "part of": "", "compare": "", "evaluate for": ""}


def test_sa_targets_drop_empty_slots_like_figures_7_and_8():
    assert render_target(RE, "sa") == '{"used for": "hand-crafted rules, basic syntactic knowledge"}'
    assert list(json.loads(render_target(EE, "sa"))) == ["adverse event"]
    empty = dict(NER, entities=[])
    assert render_target(empty, "sa") == "{}"


def test_paper_profile_reproduces_figure_4_and_6_targets():
    assert json.loads(render_target(NER, "cm", "paper"))["person"] == "Kevin Therese"
    assert json.loads(render_target(EE, "cm", "paper"))["adverse event"] == (
        "developed: Subject: patient; Effect: a hemorrhagic lesion that progressed to toxic epidermal necrolysis, as "
        "well as grade 4 pancytopenia; Treatment: 5 days of treatment with IL-2; Treatment.Drug: IL-2; "
        "Treatment.Time_elapsed: After 5 days")


def test_prompts_follow_the_paper_figures():
    ner = render_prompt(NER)
    assert ner.startswith("You are an information extraction assistant. Strictly extract 3 slots "
                          "(location, person, organization) from the user input.")
    assert ner.endswith("The user input is:\n" + NER["text"])
    assert "join them with ' | '" in ner and "join them with ' '" in render_prompt(NER, profile="paper")
    assert "each pair must be formatted as 'word1, word2'" in render_prompt(RE)
    ee = render_prompt(EE, "sa")
    assert "The keys MUST be exactly these event types: [potential therapeutic event, adverse event]" in ee
    assert "Valid roles include: [Subject, Treatment, Effect, Treatment.Drug, Treatment.Time_elapsed]" in ee
    assert "Please use concise output with no empty fields. The user input is:\n" in ee
    assert "Please use concise" not in render_prompt(EE, "cm")


@pytest.mark.parametrize("profile", ["default", "paper"])
@pytest.mark.parametrize("style", ["cm", "sa"])
@pytest.mark.parametrize("record", [NER, RE, EE], ids=["ner", "re", "ee"])
def test_paper_examples_round_trip(record, style, profile):
    assert round_trips(record, style, profile)


def paper_instruction(figure: int, slots: list[str], roles: list[str] = ()) -> str:
    """The instruction of the paper's Figure 4, 5 or 6 (the line after 'Instruction' above that figure), with the
    schema filled in where the paper writes its template variables."""
    lines = upstream_input("paper").read_text(encoding="utf-8").splitlines()
    caption = next(i for i, line in enumerate(lines) if line.startswith(f"Figure {figure}:"))
    start = max(i for i in range(caption) if lines[i] == "Instruction")
    joined = ", ".join(slots)
    return (lines[start + 1].replace(r"$\{\text{len}(\text{slots})\}$", str(len(slots)))
            .replace(r"$\{\text{'}, \text{'}.join(\text{slots})\}$", joined)
            .replace(r"$\{\text{'}, \text{'}.join(\text{relation_types})\}$", joined)
            .replace("<EVENT_TYPES>", joined).replace("<ROLE_TYPES>", ", ".join(roles)))


def test_the_paper_profile_asks_exactly_as_the_paper_figures():
    ee_roles = ["Subject", "Treatment", "Effect", "Treatment.Drug", "Treatment.Time_elapsed"]
    expected = {"ner": (NER, paper_instruction(4, NER["labels"])), "re": (RE, paper_instruction(5, RE["labels"])),
                "ee": (EE, paper_instruction(6, list(EE["labels"]), ee_roles))}
    for task, (record, instruction) in expected.items():
        assert instruction.endswith(" The user input is:"), task
        assert render_prompt(record, "cm", "paper") == instruction + "\n" + record["text"], task
        concise = instruction.replace(" The user input is:", " " + CONCISE + " The user input is:")
        assert render_prompt(record, "sa", "paper") == concise + "\n" + record["text"], task  # Figures 7-8


def test_the_default_profile_differs_only_in_its_separator():
    for record in (NER, RE):
        paper = render_prompt(record, "cm", "paper")
        assert render_prompt(record) == paper.replace("join them with ' '", "join them with ' | '")
        assert render_prompt(record, profile="default") == render_prompt(record)
    paper = render_prompt(EE, "sa", "paper")
    assert render_prompt(EE, "sa") == paper.replace(
        f" {CONCISE}", f" If an event type has several trigger groups, join them with ' | '. {CONCISE}")


def test_a_prompt_needs_its_input_text():
    schema = Schema("ner", ("person",))
    with pytest.raises(ValueError, match=r"^render_prompt needs the input text \(a record, a Schema with text, or "
                                         r"text=\.\.\.\)$"):
        render_prompt(schema)
    assert render_prompt(schema, text="Ann") == render_prompt(dict(NER, labels=["person"], text="Ann"))
    assert render_prompt(NER, text="Other text .").endswith("The user input is:\nOther text .")


def test_render_units_renders_any_units_against_a_schema():
    for record in (NER, RE, EE):
        schema = schema_of(record)
        assert render_units(gold_units(record), schema) == render_target(record)
        assert render_units(gold_units(record), schema, "sa", "paper") == render_target(record, "sa", "paper")
    no_text = Schema("ner", ("person", "location"))  # no input: values keep the order they are given in
    units = Units("ner", entities=(("person", "Zed"), ("person", "Ann")))
    assert render_units(units, no_text, "sa") == '{"person": "Zed | Ann"}'


def test_target_order_puts_slots_outside_the_schema_last():
    units = Units("ner", entities=(("city", "Oslo"), ("person", "Ann"), ("misc", "X"), ("person", "Bob")))
    got = target_order(units, ["person", "city"], "Bob and Ann went to Oslo with X .")
    assert got.entities == (("person", "Bob"), ("person", "Ann"), ("city", "Oslo"), ("misc", "X"))


def test_defaults_and_profile_errors():
    assert prompt_parts(NER) == prompt_parts(NER, "cm", "default")
    assert round_trips(NER) == round_trips(NER, "cm", "default") is True
    with pytest.raises(ValueError, match=r"^unknown format profile 'fancy'; known: \['default', 'paper'\]$"):
        render_prompt(NER, profile="fancy")


def test_values_are_ordered_by_their_first_appearance_absent_ones_last():
    rec = {"id": "o", "dataset": "d", "task": "ner", "text": "Ann met Bob and Ann again .", "labels": ["person"],
           "entities": [{"type": "person", "text": "Bob"}, {"type": "person", "text": "Ann"}]}
    assert render_target(rec) == '{"person": "Ann | Bob"}'
    units = Units("ner", entities=(("person", "Zoe"), ("person", "Bob"), ("person", "Ann")))
    assert render_units(units, schema_of(rec), "sa") == '{"person": "Ann | Bob | Zoe"}'
    pairs = {**rec, "task": "re", "labels": ["knows"], "relations": [{"type": "knows", "head": "Bob", "tail": "Ann"},
                                                                   {"type": "knows", "head": "again", "tail": "met"}]}
    assert render_target(pairs) == '{"knows": "Bob, Ann | again, met"}'  # a pair sits where either side first does
    no_text = Units("ner", entities=(("person", "Ann"), ("person", "X")))
    assert render_units(no_text, Schema("ner", ("person",)), "sa") == '{"person": "Ann | X"}'


def test_units_of_slots_outside_the_schema_are_rendered_after_it():
    units = Units("ner", entities=(("city", "Oslo"), ("person", "Kevin")))
    assert render_units(units, schema_of(NER)) == ('{"location": "", "person": "Kevin", "organization": "", '
                                                   '"city": "Oslo"}')
