"""Model output back to units: ``parse_output`` and the round-trip check of a record.

``parse_output`` never raises on model output, and reads it the way a careful human would: the first JSON
object of the output (prose, code fences and a repeated object around it are noted and ignored; broken JSON
such as single quotes, trailing commas or a cut-off end is repaired), then the prompt's rule that values are
exact substrings of the input. Where a separator could also sit inside a value, among the ways to cut a slot
string at separators it keeps the one that leaves the fewest characters outside the input, then the fewest
values; a value with stray separators, quotes or spaces at its ends (``"antiemetic: "``) is read as the input
substring it becomes without them. Values still not in the input are kept and listed in ``not_in_input``:
downstream they count as errors. Every deviation from the promised format is a reason; ``well_formed`` says
whether the output was exactly the promised JSON object.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import json_repair

from converters.format.profiles import ARG_SEP, PAIR_SEP, ROLE_SEP, Profile, get_profile, task_labels_text
from converters.format.render import render_target
from converters.records import Event, Schema, Units, gold_units

# ----------------------------------------------------------------------------------------------- parsing


class ParseResult(NamedTuple):
    """What a model output means: its units plus a verdict.

    ``parsed``: a JSON object was found and read (possibly after repairing truncation).
    ``valid``: parsed, every key is a schema slot, every value well-formed and an exact substring of the input.
    ``reasons``: why it is not valid (empty when valid). ``not_in_input``: values absent from the input text.
    ``off_schema``: slots (``slot``) and EE roles (``slot: role``) the schema does not have.
    ``well_formed``: the output is exactly one JSON object of string values (whitespace around it allowed), the
    format every prompt and target promise, whatever its content; rewards give anything else their floor.
    ``listed``: every ``(slot, item)`` in the order the output lists them, repeats (repeated keys too) kept
    (``units`` merges them), each as the output wrote it (ends stripped, not read as an input substring): a
    mention, a ``(head, tail)`` pair, a ``(trigger, arguments)`` group, or the piece's text where it is no unit
    (an RE piece without ``, `` or with an empty side, a group without trigger). InstructUIE-compatible scoring
    writes the answer out from it (``eval.instructuie``): InstructUIE reads every piece of an answer as written.
    """

    units: Units
    parsed: bool
    valid: bool
    reasons: tuple[str, ...] = ()
    not_in_input: tuple[str, ...] = ()
    off_schema: tuple[str, ...] = ()
    well_formed: bool = False
    listed: tuple[tuple[str, Any], ...] = ()


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.S)


class _Object(dict):
    """A decoded JSON object that also keeps its ``(key, value)`` pairs in order, repeated keys included (a dict
    keeps only the last value of a repeated key; a model that writes a slot twice means both values)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


_DECODER = json.JSONDecoder(object_pairs_hook=_Object)


def _extract_object(output: str, reasons: list[str]) -> tuple[dict[str, Any] | None, bool]:
    """The answer's JSON object, and whether the output was exactly that object (the format every prompt asks for).

    Strict JSON first, from the first ``{``: prose around the object and a repeated object read as one answer
    (the first). An output cut off inside a value or before the closing brace is closed there and read strictly
    too, so every character and repeated key it wrote is kept. What strict JSON cannot read (single quotes,
    trailing commas, unquoted keys, other cut-off ends) goes to ``json_repair``, the maintained repairer of
    LLM-written JSON; its first object is the answer.
    """
    text = output.strip()
    fenced = text.startswith("```")
    if fenced:
        m = _FENCE.search(text)
        text = m.group(1).strip() if m else text
        reasons.append("code fence around JSON")
    start = text.find("{")
    if start < 0:
        reasons.append("no JSON object in output")
        return None, False
    if start > 0:  # text is stripped: whatever precedes the brace is text
        reasons.append("text before JSON")
    try:
        obj, end = _DECODER.raw_decode(text, start)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        if text[end:].strip():
            reasons.append("text after JSON")
        return obj, not fenced and start == 0 and end == len(text)
    for closing in ('"}', "}"):
        try:
            obj, end = _DECODER.raw_decode(text + closing, start)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj and end == len(text) + len(closing):
            reasons += ["broken JSON, repaired", "truncated output"]
            return obj, False
    try:
        repaired = json_repair.loads(text[start:])
    except (ValueError, RecursionError):  # e.g. nesting deeper than its parser's recursion
        reasons.append("unparsable JSON")
        return None, False
    if isinstance(repaired, list):
        repaired = next((x for x in repaired if isinstance(x, dict)), None)
    if not isinstance(repaired, dict) or not repaired:
        reasons.append("unparsable JSON")
        return None, False
    reasons.append("broken JSON, repaired")
    if not text.endswith("}"):
        reasons.append("truncated output")
    return repaired, False


# Characters a model leaves at the ends of a value by mistake: separators of the format, quotes, spaces.
_STRAY = " \t\n:;,|'\"`"


def _ground(value: str, text: str | None) -> str:
    """``value`` read with the prompt's rule that values are exact substrings of the input.

    A value that is not in the input but becomes an input substring once stray separators, quotes or
    whitespace at its ends are dropped (``antiemetic:``), or once its whitespace runs are matched loosely
    (``breast   cancer``), is read as that substring. Anything else is returned unchanged (and counts as
    not in the input downstream): a repair never changes a letter.
    """
    if text is None or value in text:
        return value
    core = value.strip(_STRAY)
    for candidate in (value.rstrip(_STRAY), value.lstrip(_STRAY), core):
        if candidate and candidate in text:
            return candidate
    words = core.split()
    if len(words) > 1:
        m = re.search(r"\s+".join(map(re.escape, words)), text)
        if m:
            return m.group(0)
    return value


def _value_strings(slot: str, value: Any, reasons: list[str]) -> list[str]:
    """A slot value as a list of strings; non-string values are read leniently and noted."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if value is None:
        return []
    if isinstance(value, list):
        reasons.append(f"slot {slot!r}: list instead of string")
        out: list[str] = []
        for item in value:
            out.extend(_value_strings(slot, item, reasons))
        return out
    if isinstance(value, (int, float, bool)):
        reasons.append(f"slot {slot!r}: {type(value).__name__} instead of string")
        return [json.dumps(value)]
    kind = "dict" if isinstance(value, dict) else type(value).__name__  # a nested object is an _Object
    reasons.append(f"slot {slot!r}: {kind} value ignored")
    return []


# A piece parser reads one candidate value and returns (items, characters outside the input, problems); an item is
# (the unit read, or None where the piece is no unit; the piece as written, or the unit as written).
PieceParser = Callable[[str], tuple[list[Any], int, list[str]]]
# Given the separator-cut tokens of a value, the sorted token positions (0 first) where a piece may start.
CutPoints = Callable[[list[str]], list[int]]


# Beyond this many separator-cut tokens a slot value is garbage for any real input: cut at every separator.
MAX_SEGMENT_TOKENS = 512
# The longest run of tokens one EE trigger group may span in the search (groups hold several arguments).
MAX_GROUP_TOKENS = 64


def _segment(value: str, sep: str, text: str | None, parse_piece: PieceParser, window: int | None = None,
             need_in_text: bool = False, cut_points: CutPoints | None = None) -> tuple[list[Any], list[str]]:
    """Cut ``value`` at separators so as to minimise (characters outside the input, number of values).

    A dynamic programme over the separator-cut tokens. Its cost is bounded: a piece spans at most ``window``
    tokens; with ``need_in_text`` (NER, where a multi-token piece that is not in the input can never beat
    cutting it) the search stops growing a piece as soon as it leaves the input; ``cut_points`` may name the
    only token positions where a piece can start.
    """
    tokens = value.split(sep)
    n = len(tokens)
    if n == 1 or text is None or sep not in text or n > MAX_SEGMENT_TOKENS:
        items: list[Any] = []
        problems: list[str] = []
        for tok in tokens:
            got, _, probs = parse_piece(tok)
            items.extend(got)
            problems.extend(probs)
        return items, problems
    starts = cut_points(tokens) if cut_points is not None else None
    # Consecutive positions always form a path: single tokens, or one cut point to the next (no window then).
    span = n if window is None or starts is not None else window
    best: list[tuple[int, int] | None] = [None] * (n + 1)
    back = [0] * (n + 1)
    best[0] = (0, 0)
    memo: dict[tuple[int, int], tuple[list[Any], int, list[str]]] = {}
    positions = range(1, n + 1) if starts is None else [*starts[1:], n]
    for j in positions:
        for i in range(j - 1, max(0, j - span) - 1, -1) if starts is None else reversed(starts):
            if i >= j or i < j - span:
                continue
            candidate = sep.join(tokens[i:j])
            if need_in_text and i < j - 1 and candidate not in text:
                break  # every longer piece contains this one, so it is not in the input either
            if best[i] is None:
                continue
            piece = memo[(i, j)] = parse_piece(candidate)
            cost = (best[i][0] + piece[1], best[i][1] + 1)  # type: ignore[index]
            if best[j] is None or cost <= best[j]:  # ties: the longest last piece, as before
                best[j], back[j] = cost, i
    cuts, j = [], n
    while j > 0:
        cuts.append((back[j], j))
        j = back[j]
    items, problems = [], []
    for i, j in reversed(cuts):
        got, _, probs = memo[(i, j)]
        items.extend(got)
        problems.extend(probs)
    return items, problems


def _outside(value: str, text: str | None) -> int:
    return 0 if text is None or value in text else len(value)


def _grounded(value: str, text: str | None, problems: list[str]) -> str:
    """``_ground`` that notes a repair in ``problems``."""
    read = _ground(value, text)
    if read != value:
        problems.append(f"value {value!r} read as {read!r}")
    return read


def _ner_piece(text: str | None) -> PieceParser:
    def parse(piece: str) -> tuple[list[Any], int, list[str]]:
        piece = piece.strip()
        if not piece:
            return [], 0, ["empty value"]
        problems: list[str] = []
        read = _grounded(piece, text, problems)
        return [(read, piece)], _outside(read, text), problems

    return parse


def _re_piece(text: str | None) -> PieceParser:
    def parse(piece: str) -> tuple[list[Any], int, list[str]]:
        piece = piece.strip()
        if not piece:
            return [], 0, ["empty value"]
        positions = [m.start() for m in re.finditer(re.escape(PAIR_SEP), piece)]
        if not positions:
            return [(None, piece)], len(piece), [f"pair without ', ': {piece!r}"]
        options = []
        for p in positions:
            problems: list[str] = []
            sides = piece[:p].strip(), piece[p + len(PAIR_SEP):].strip()
            head, tail = (_grounded(side, text, problems) for side in sides)
            options.append((_outside(head, text) + _outside(tail, text), p, head, tail, problems, sides))
        cost, _, head, tail, problems, sides = min(options)
        if not head or not tail:
            return [(None, piece)], len(piece), [f"pair with an empty side: {piece!r}"]
        return [((head, tail), sides)], cost, problems

    return parse


_EERoleFacts = tuple[Any, frozenset[str], "re.Pattern[str] | None", dict[str, frozenset[str]]]
_EE_ROLE_FACTS: dict[int, _EERoleFacts] = {}


def _ee_role_facts(labels: Mapping[str, Sequence[str]]) -> _EERoleFacts:
    """(labels, every role, the pattern of the ROLE_SEP that ends a trigger, {event type: its roles}), built
    once per schema object.

    Keyed by the identity of ``labels`` (kept alive by the entry, so the key cannot be reused): scoring many
    responses against one record then costs no per-call rebuilding.
    """
    facts = _EE_ROLE_FACTS.get(id(labels))
    if facts is not None and facts[0] is labels:
        return facts
    if len(_EE_ROLE_FACTS) >= 4096:
        _EE_ROLE_FACTS.clear()
    roles = tuple(dict.fromkeys(r for rs in labels.values() for r in rs))
    by_type = {etype: frozenset(rs) for etype, rs in labels.items()}
    facts = _EE_ROLE_FACTS[id(labels)] = (labels, frozenset(roles), _role_start(roles), by_type)
    return facts


@lru_cache(maxsize=4096)
def _role_start(roles: tuple[str, ...]) -> re.Pattern[str] | None:
    if not roles:
        return None
    alternatives = "|".join(re.escape(r) for r in roles)
    return re.compile(f"{re.escape(ROLE_SEP)}(?=(?:{alternatives}){re.escape(ROLE_SEP)})")


# A trigger spans at most this many tokens before its ``: ROLE:`` marker when groups are cut by spaces.
MAX_TRIGGER_TOKENS = 8


def _ee_cut_points(role_set: frozenset[str]) -> CutPoints:
    """Where a trigger group can start when tokens are words (the ``paper`` profile): a few words before a
    ``TRIGGER: ROLE:`` marker, never right after a word ending in ``:`` or ``;``. Without such markers any
    position can start a group (trigger-only groups), so every position is returned."""

    def cut_points(tokens: list[str]) -> list[int]:
        ends = [k for k in range(len(tokens) - 1)
                if tokens[k].endswith(":") and tokens[k + 1].endswith(":") and tokens[k + 1][:-1] in role_set]
        if not ends:
            return list(range(len(tokens)))
        starts = {0}
        for k in ends:
            for i in range(max(1, k - MAX_TRIGGER_TOKENS + 1), k + 1):
                if not tokens[i - 1].endswith((":", ";")):
                    starts.add(i)
        return sorted(starts)

    return cut_points


def _ee_piece(text: str | None, labels: Mapping[str, Sequence[str]]) -> PieceParser:
    _, role_set, role_start, _ = _ee_role_facts(labels)

    def parse(piece: str) -> tuple[list[Any], int, list[str]]:
        piece = piece.strip()
        if not piece:
            return [], 0, ["empty trigger group"]
        trigger, rest = piece, ""
        m = role_start.search(piece) if role_start is not None else None  # the trigger ends where a role begins
        cut = m.start() if m else -1
        if cut < 0 and ROLE_SEP in piece:
            cut = piece.index(ROLE_SEP)
        if cut >= 0:
            trigger, rest = piece[:cut].strip(), piece[cut + len(ROLE_SEP):]
        problems: list[str] = []
        args: list[tuple[str, str]] = []  # arguments as written (stripped at the end, so a join keeps ' ; ')
        for item in rest.split(ARG_SEP) if rest else ():
            role, sep, arg = item.partition(ROLE_SEP)
            if sep:
                role = role.strip()
                if role in role_set:
                    args.append((role, arg))
                    continue
            if args and (not sep or (text is not None and (args[-1][1] + ARG_SEP + item).strip() in text)):
                args[-1] = (args[-1][0], args[-1][1] + ARG_SEP + item)  # an argument that itself contains '; '
            elif sep:
                args.append((role, arg))  # unknown role: kept, reported by the caller
            else:
                problems.append(f"argument without role: {item!r}")
        args = [(r, stripped) for r, a in args if (stripped := a.strip())]
        as_written = (trigger, tuple(args))
        if text is not None:
            trigger = _grounded(trigger, text, problems)
            args = [(role, _grounded(arg, text, problems)) for role, arg in args]
        if not trigger:
            return [(None, piece)], len(piece), ["trigger group without trigger"]
        cost = _outside(trigger, text)
        if text is not None:
            cost += sum(len(a) for _, a in args if a not in text)
        return [((trigger, tuple(dict.fromkeys(args))), as_written)], cost, problems

    return parse


def parse_output(output: Any, record_or_schema: Mapping[str, Any] | Schema,
                 profile: str | Profile = "default") -> ParseResult:
    """Read a model output into units against the record's schema. Never raises on model output."""
    task, labels, text = task_labels_text(record_or_schema)
    sep = get_profile(profile).value_sep
    reasons: list[str] = []
    if not isinstance(output, str):
        return ParseResult(Units(task), False, False, (f"output is {type(output).__name__}, not text",))
    obj, clean = _extract_object(output, reasons)
    if obj is None:
        return ParseResult(Units(task), False, False, tuple(reasons))
    slots = labels  # slot names: a short list, or {event type: roles} for EE
    window: int | None = None
    cut_points: CutPoints | None = None
    if task == "ner":
        piece = _ner_piece(text)
    elif task == "re":
        piece = _re_piece(text)
        if text is not None:  # a pair whose sides are both in the input spans at most twice the input's tokens
            window = 2 * (text.count(sep) + 1) + 1
    else:
        facts = _ee_role_facts(labels)
        piece = _ee_piece(text, labels)
        window = MAX_GROUP_TOKENS
        cut_points = _ee_cut_points(facts[1])
        roles_by_type = facts[3]
    entities: dict[tuple[str, str], None] = {}
    relations: dict[tuple[str, str, str], None] = {}
    events: dict[tuple[str, str], dict[tuple[str, str], None]] = {}
    outside: dict[str, None] = {}
    off_schema: dict[str, None] = {}
    listed: list[tuple[str, Any]] = []
    pairs = obj.pairs if isinstance(obj, _Object) else list(obj.items())
    seen: set[str] = set()
    for slot, raw in pairs:
        slot = str(slot)
        if slot in seen:
            reasons.append(f"slot {slot!r} repeated")
        seen.add(slot)
        if slot not in slots:
            reasons.append(f"unknown slot {slot!r}")
            off_schema[slot] = None
        if isinstance(raw, str):  # the usual case, inline
            values_of_slot = [raw] if raw.strip() else []
        else:
            values_of_slot = _value_strings(slot, raw, reasons)
        for value in values_of_slot:
            if sep in value:
                items, problems = _segment(value, sep, text, piece, window, task == "ner", cut_points)
            else:  # one value: nothing to cut
                items, _, problems = piece(value)
            if problems:
                reasons.extend(f"slot {slot!r}: {p}" for p in problems)
            for item, as_written in items:
                listed.append((slot, as_written))
                if item is None:  # a piece that is no unit: listed as written, nothing read from it
                    continue
                if task == "ner":
                    entities[(slot, item)] = None
                    values = [item]
                elif task == "re":
                    relations[(slot, *item)] = None
                    values = list(item)
                else:
                    trigger, args = item
                    group = events.setdefault((slot, trigger), {})
                    known_roles = roles_by_type.get(slot)
                    values = [trigger]
                    for pair in args:
                        group[pair] = None
                        role, arg = pair
                        values.append(arg)
                        if known_roles is not None and role not in known_roles:
                            reasons.append(f"slot {slot!r}: unknown role {role!r}")
                            off_schema[f"{slot}{ROLE_SEP}{role}"] = None
                if text is not None:
                    for v in values:
                        if v not in text:
                            outside[v] = None
    if outside:
        reasons.append(f"{len(outside)} value(s) not in the input")
    if task == "ner":
        units = Units("ner", entities=tuple(entities))
    elif task == "re":
        units = Units("re", relations=tuple(relations))
    else:
        units = Units("ee", events=tuple(Event(t, trig, tuple(a)) for (t, trig), a in events.items()))
    well_formed = clean and all(isinstance(v, str) for _, v in pairs)
    return ParseResult(units, True, not reasons, tuple(dict.fromkeys(reasons)), tuple(outside), tuple(off_schema),
                       well_formed, tuple(listed))


def round_trips(record: Mapping[str, Any], style: str = "cm", profile: str | Profile = "default") -> bool:
    """Whether parsing the rendered target gives back exactly the gold units (same order, same content)."""
    parsed = parse_output(render_target(record, style, profile), record, profile)
    return set_view(parsed.units) == set_view(gold_units(record))


def set_view(units: Units) -> tuple[frozenset, frozenset, frozenset]:
    """Order-free view of units: entity, relation and (type, trigger, frozenset(arguments)) sets."""
    return (
        frozenset(units.entities),
        frozenset(units.relations),
        frozenset((e.type, e.trigger, frozenset(e.arguments)) for e in units.events),
    )
