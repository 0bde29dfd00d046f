"""The generated answers of ``tests/eval/test_instructuie_generated.py``: a model's answer to a real gold record as
its units (``Piece``), the perturbation operators that build one (``OPS``), the two ways it is written (``ours``: the
JSON our prompts ask for, or that JSON as a model botches it; ``theirs``: what an InstructUIE model writes for the
same pieces), and the differences the metric card documents instead of matching (``DOCUMENTED``)."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

PARTS_OF = {"ner": ("NER",), "re": ("RE",), "ee": ("EET", "EEA")}  # InstructUIE task folders scored per task
APOSTROPHE = "#$%#"  # InstructUIE writes ' as this in EE types and triggers


# ------------------------------------------------------------------------------------------------ answers


@dataclass(frozen=True)
class Piece:
    """One unit as a model writes it: an NER mention, an RE ``head, tail`` (or anything else the model put under
    a relation type), an EE trigger with its ``(role, argument)`` pairs."""

    slot: str
    value: str
    args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Answer:
    """A model answer: its pieces; ``repeat_keys``: each piece under its own (repeated) key instead of grouped by
    slot; ``syntax``: how the object is written; ``cut``: the output ends early (keep the pieces up to ``cut[0]`` in
    written order, the last one's last string cut to ``1 + cut[1]`` characters); ``free_text``: no JSON, this."""

    pieces: tuple[Piece, ...]
    repeat_keys: bool = False
    syntax: str = "json"
    cut: tuple[int, int] | None = None
    free_text: str | None = None


@dataclass(frozen=True)
class Dataset:
    """One dataset: our records and, per InstructUIE task folder, InstructUIE's instances of the same rows."""

    name: str
    task: str
    records: list[dict]
    instances: dict[str, list[dict]]


def gold_pieces(record: Mapping[str, Any]) -> tuple[Piece, ...]:
    """The gold annotation as a model writes it (RE: the set-aside relations too, as ``head, `` or ``, tail``)."""
    if record["task"] == "ner":
        return tuple(Piece(e["type"], e["text"]) for e in record["entities"])
    if record["task"] == "re":
        relations = [*record["relations"], *record.get("set_aside", {}).get("relations", ())]
        return tuple(Piece(r["type"], f"{r['head']}, {r['tail']}") for r in relations)
    return tuple(Piece(e["type"], e["trigger"], tuple((a["role"], a["text"]) for a in e["arguments"]))
                 for e in record["events"])


def _group(piece: Piece) -> str:
    """An EE trigger group as the format writes it: ``TRIGGER: ROLE: argument; ROLE: argument``."""
    return piece.value + "".join(f"{': ' if i == 0 else '; '}{r}: {a}" for i, (r, a) in enumerate(piece.args))


def written(answer: Answer, task: str) -> tuple[Piece, ...]:
    """The pieces in the order the JSON writes them (grouped by slot, unless keys repeat), cut where it ends."""
    pieces = list(answer.pieces)
    if not answer.repeat_keys:
        first = {p.slot: i for i, p in reversed(list(enumerate(pieces)))}
        pieces.sort(key=lambda p: first[p.slot])
    if answer.cut is None or not pieces:
        return tuple(pieces)
    k, n = answer.cut
    pieces = pieces[: k % len(pieces) + 1]
    last = pieces[-1]
    if task == "ee" and last.args:
        role, arg = last.args[-1]
        pieces[-1] = replace(last, args=(*last.args[:-1], (role, arg[: 1 + n % len(arg)])))
    else:
        pieces[-1] = replace(last, value=last.value[: 1 + n % len(last.value)])
    return tuple(pieces)


def _enc(s: Any) -> str:
    return json.dumps(s, ensure_ascii=False)


def ours(answer: Answer, record: Mapping[str, Any]) -> str:
    """The output our model writes for ``answer``."""
    if answer.free_text is not None:
        return answer.free_text
    task = record["task"]
    pieces = written(answer, task)
    if not pieces and answer.syntax != "cm":
        return "{}"  # an empty answer, however the model botches its syntax otherwise
    text = _group if task == "ee" else (lambda p: p.value)
    if answer.repeat_keys:
        pairs = [(p.slot, text(p)) for p in pieces]
    else:
        slots: dict[str, list[str]] = {}
        for p in pieces:
            slots.setdefault(p.slot, []).append(text(p))
        if answer.syntax == "cm":
            slots = {**{s: [] for s in record["labels"] if s not in slots}, **slots}
        pairs = [(slot, " | ".join(values)) for slot, values in slots.items()]
    body = ", ".join(f"{_enc(slot)}: {_enc(value)}" for slot, value in pairs)
    if answer.cut is not None:
        return "{" + body[:-1]  # the output stops inside the last value, whatever the syntax
    if answer.syntax == "list_values":
        return "{" + ", ".join(f"{_enc(slot)}: {_enc(value.split(' | '))}" for slot, value in pairs) + "}"
    if answer.syntax == "single_quotes":
        return "{" + ", ".join(f"'{slot}': '{value}'" for slot, value in pairs) + "}"
    return {"trailing_comma": "{" + body + ", }", "unclosed": "{" + body, "fence": "```json\n{" + body + "}\n```",
            "prose": "Here is the answer: {" + body + "}", "twice": "{" + body + "}\n{" + body + "}"
            }.get(answer.syntax, "{" + body + "}")


def theirs(answer: Answer, record: Mapping[str, Any], part: str) -> str:
    """The answer an InstructUIE model writes for ``answer`` when asked ``part`` (NER, RE, EET, EEA)."""
    if answer.free_text is not None:
        return answer.free_text
    pieces = written(answer, record["task"])
    if part == "EET":
        items = [f"{p.slot}: {p.value}".replace("'", APOSTROPHE) for p in pieces]
    elif part == "EEA":
        gold_types = {e["type"] for e in record["events"]}
        items = [f"{a}: {r}" for p in pieces if p.slot in gold_types for r, a in p.args]
    else:
        items = [f"{p.slot}: {p.value}" for p in pieces]
    said = "; ".join(items) if items else "None"
    if answer.cut is None and answer.syntax == "prose":
        return "Here is the answer: " + said
    return said + "\n" + said if answer.cut is None and answer.syntax == "twice" else said


# ---------------------------------------------------------------------------------------------- operators


@dataclass(frozen=True)
class Context:
    """What an operator may draw from: the record's text, schema and gold."""

    record: Mapping[str, Any]

    @property
    def slots(self) -> list[str]:
        return list(self.record["labels"])

    def roles(self, slot: str) -> list[str]:
        labels = self.record["labels"]
        return list(labels.get(slot) or ["role"]) if isinstance(labels, dict) else []

    def span(self, rng: random.Random) -> str:
        words = self.record["text"].split() or ["x"]
        i = rng.randrange(len(words))
        return " ".join(words[i: i + rng.choice((1, 1, 2, 3))])


Op = Callable[[random.Random, Context, Answer], Answer]
PUNCT = ",.:;()'-_/&@!?\"’"
OFF_SCHEMA_SLOTS = ("Answer", "other", "relation", "None", "no relation", "Output")
OFF_SCHEMA_VALUES = ("nothing relevant, ", "None", "n/a", "no relation", "nothing relevant")
FREE_TEXT = ("nothing found; no entity; n/a", "", "None", "none", "no relation", "[]", "Error: none; x: y",
             "{", "{not json", "I cannot answer that.", "NA")


def _pick(rng: random.Random, answer: Answer) -> int | None:
    return rng.randrange(len(answer.pieces)) if answer.pieces else None


def _with(answer: Answer, i: int, piece: Piece | None) -> Answer:
    pieces = list(answer.pieces)
    if piece is None:
        del pieces[i]
    else:
        pieces[i] = piece
    return replace(answer, pieces=tuple(pieces))


def _new_piece(rng: random.Random, ctx: Context, slot: str) -> Piece:
    if ctx.record["task"] == "re":
        return Piece(slot, f"{ctx.span(rng)}, {ctx.span(rng)}")
    if ctx.record["task"] == "ee":
        return Piece(slot, ctx.span(rng), tuple((rng.choice(ctx.roles(slot)), ctx.span(rng))
                                                for _ in range(rng.randrange(3))))
    return Piece(slot, ctx.span(rng))


def op_drop(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """A unit left out (EE: a trigger group or one argument)."""
    i = _pick(rng, answer)
    if i is None:
        return answer
    piece = answer.pieces[i]
    if piece.args and rng.random() < 0.5:
        j = rng.randrange(len(piece.args))
        return _with(answer, i, replace(piece, args=piece.args[:j] + piece.args[j + 1:]))
    return _with(answer, i, None)


def op_add(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """A wrong unit added: input spans under a schema slot (EE: or an argument added to a group)."""
    i = _pick(rng, answer)
    if ctx.record["task"] == "ee" and i is not None and rng.random() < 0.5:
        piece = answer.pieces[i]
        arg = (rng.choice(ctx.roles(piece.slot)), ctx.span(rng))
        return _with(answer, i, replace(piece, args=(*piece.args, arg)))
    pieces = list(answer.pieces)
    pieces.insert(rng.randrange(len(pieces) + 1), _new_piece(rng, ctx, rng.choice(ctx.slots)))
    return replace(answer, pieces=tuple(pieces))


def op_mistype(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """A unit under another schema slot (EE: or an argument under another role)."""
    i = _pick(rng, answer)
    if i is None:
        return answer
    piece = answer.pieces[i]
    if piece.args and rng.random() < 0.5:
        j = rng.randrange(len(piece.args))
        args = list(piece.args)
        args[j] = (rng.choice(ctx.roles(piece.slot)), args[j][1])
        return _with(answer, i, replace(piece, args=tuple(args)))
    return _with(answer, i, replace(piece, slot=rng.choice(ctx.slots)))


def op_duplicate(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """A unit written twice (EE: the same trigger group twice); as a repeated JSON key half of the time."""
    i = _pick(rng, answer)
    if i is None:
        return answer
    pieces = list(answer.pieces)
    pieces.insert(rng.randrange(i + 1, len(pieces) + 1), pieces[i])
    return replace(answer, pieces=tuple(pieces), repeat_keys=answer.repeat_keys or rng.random() < 0.5)


def _respace(rng: random.Random, s: str) -> str:
    """Spaces around punctuation removed or added (``U.S .`` <-> ``U.S.``), or a space doubled."""
    kind = rng.randrange(3)
    if kind == 0:
        return re.sub(r"\s*([" + re.escape(PUNCT) + r"])\s*", lambda m: m.group(1) if rng.random() < 0.7
                      else m.group(0), s)
    if kind == 1:
        return re.sub(r"([" + re.escape(PUNCT) + r"])", lambda m: f" {m.group(1)} " if rng.random() < 0.7
                      else m.group(1), s).strip()
    return s.replace(" ", "  ", 1)


def _edit_string(rng: random.Random, answer: Answer, edit: Callable[[str], str]) -> Answer:
    """``edit`` applied to one written string of one piece (its value, or one argument)."""
    i = _pick(rng, answer)
    if i is None:
        return answer
    piece = answer.pieces[i]
    if piece.args and rng.random() < 0.5:
        j = rng.randrange(len(piece.args))
        args = list(piece.args)
        args[j] = (args[j][0], edit(args[j][1]))
        return _with(answer, i, replace(piece, args=tuple(args)))
    return _with(answer, i, replace(piece, value=edit(piece.value)))


def op_respace(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """Punctuation re-spaced in one value (tokens of the input joined or split around punctuation)."""
    return _edit_string(rng, answer, lambda s: _respace(rng, s) or s)


def op_case(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """One value, or one slot name, in another case."""
    change = rng.choice((str.upper, str.lower, str.title))
    i = _pick(rng, answer)
    if i is not None and rng.random() < 0.3:
        return _with(answer, i, replace(answer.pieces[i], slot=change(answer.pieces[i].slot)))
    return _edit_string(rng, answer, change)


def op_stray(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """A stray separator, quote or space at one end of one value (``antiemetic: ``, ``Ann,``)."""
    mark = rng.choice((":", ",", ";", "'", '"', " :", ", ", "."))
    return _edit_string(rng, answer, lambda s: s + mark if rng.random() < 0.7 else mark.strip() + s)


def op_off_schema(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """A slot the prompt did not ask for (``"Answer": "nothing relevant, "``), with free text or input spans."""
    slot = rng.choice(OFF_SCHEMA_SLOTS)
    piece = _new_piece(rng, ctx, slot) if rng.random() < 0.4 else Piece(slot, rng.choice(OFF_SCHEMA_VALUES))
    pieces = list(answer.pieces)
    pieces.insert(rng.randrange(len(pieces) + 1), piece)
    return replace(answer, pieces=tuple(pieces))


def op_free_text(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """No JSON at all: free text, or the answer in InstructUIE's own format."""
    if rng.random() < 0.5:
        return replace(answer, free_text=rng.choice(FREE_TEXT))
    return replace(answer, free_text=theirs(answer, ctx.record, PARTS_OF[ctx.record["task"]][0]))


def op_truncate(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """The output cut off inside a value (a model out of tokens)."""
    return replace(answer, cut=(rng.randrange(1 << 16), rng.randrange(1 << 16)))


def op_invalid_json(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """The object written badly: single quotes, a trailing comma, no closing brace, list values, a code fence,
    or every slot of the schema with the empty ones (our CM targets)."""
    return replace(answer, syntax=rng.choice(("single_quotes", "trailing_comma", "unclosed", "list_values", "fence",
                                              "cm")))


def op_wrap(rng: random.Random, ctx: Context, answer: Answer) -> Answer:
    """Prose before the object, or the object written twice."""
    return replace(answer, syntax=rng.choice(("prose", "twice")))


OPS: dict[str, Op] = {
    "drop": op_drop, "add": op_add, "mistype": op_mistype, "duplicate": op_duplicate, "respace": op_respace,
    "case": op_case, "stray": op_stray, "off_schema": op_off_schema, "free_text": op_free_text,
    "truncate": op_truncate, "invalid_json": op_invalid_json, "wrap": op_wrap,
}

Case = tuple[int, tuple[tuple[str, int], ...]]  # (record index, ((operator, its seed), ...))


def build(record: Mapping[str, Any], ops: Sequence[tuple[str, int]]) -> Answer:
    """The answer that ``ops`` (operator name, seed) make of ``record``'s gold, applied in order."""
    answer = Answer(gold_pieces(record))
    ctx = Context(record)
    for name, seed in ops:
        answer = OPS[name](random.Random(seed), ctx, answer)
    return answer


def draw_ops(rng: random.Random) -> tuple[tuple[str, int], ...]:
    """Zero to four operators, each with its own seed."""
    names = list(OPS)
    return tuple((rng.choice(names), rng.randrange(1 << 20)) for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))))


# --------------------------------------------------------------------- what the metric card documents instead


def _repeats_a_key(answer: Answer, record: Mapping[str, Any]) -> bool:
    slots = [p.slot for p in written(answer, record["task"])]
    return answer.repeat_keys and len(set(slots)) < len(slots)


def _misread_in_single_quotes(answer: Answer, record: Mapping[str, Any]) -> bool:
    """A key or value holding an apostrophe, or a value ending in ``, word:``: json_repair's reading of them inside
    single quotes is not what the model wrote."""
    strings = [x for p in written(answer, record["task"]) for x in (p.slot, p.value, *(y for a in p.args for y in a))]
    return any("'" in x for x in strings) or re.search(r",[^,']*:'", ours(answer, record)) is not None


# name (as in eval/METRICS.md) -> whether an answer falls under it.
DOCUMENTED: dict[str, Callable[[Answer, Mapping[str, Any]], bool]] = {
    "text around the object": lambda a, r: a.cut is None and a.syntax in ("prose", "twice"),
    "a repeated key in JSON only json_repair reads": lambda a, r: (
        a.cut is None and a.syntax in ("single_quotes", "trailing_comma") and _repeats_a_key(a, r)),
    "single quotes around a value with an apostrophe or ending in ', word:'": lambda a, r: (
        a.cut is None and a.syntax == "single_quotes" and _misread_in_single_quotes(a, r)),
}


def documented(answer: Answer, record: Mapping[str, Any]) -> str | None:
    """The documented difference ``answer`` falls under, if any."""
    return next((name for name, applies in DOCUMENTED.items() if answer.free_text is None and applies(answer, record)),
                None)
