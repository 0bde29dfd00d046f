"""Importer for SemEval-2010 Task 8 files (``TRAIN_FILE.TXT``, ``TEST_FILE_FULL.TXT``).

Each record is four lines: ``<id>\\t"<sentence with <e1>..</e1> and <e2>..</e2>>"``, the relation
(``Cause-Effect(e2,e1)`` or ``Other``), ``Comment: ...`` and a blank line. The tags are stripped; the text
inside them is the entity mention.

Direction and labels follow IE_INSTRUCTIONS' ``semval-RE`` (the same corpus), so a model trained on one is
scored fairly on the other: the head is always e1 and the tail e2 (text order), whatever the direction suffix
says (``Product-Producer(e2,e1)`` still gives head = e1); the relation name is verbalised (lower-case, hyphen
to space) and ``Other`` is the relation type ``NA`` between e1 and e2. Labels, in semval-RE's order:
``component whole, NA, instrument agency, member collection, cause effect, entity destination, content
container, message topic, product producer, entity origin``. (semval-RE's text is also lower-cased and
tokenised; this importer keeps the original text, so mentions keep their case.)

``keep_other: false`` drops the ``Other`` sentences instead (counted as "SemEval Other sentence dropped").

The released data has no dev split. ``holdout_every: k`` with ``holdout: "only"`` keeps every k-th record
(0-based positions k-1, 2k-1, ...) of the file and ``holdout: "exclude"`` keeps the others, a deterministic
split the bundled spec uses to derive dev from train.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Mapping

from converters.readers.source import ReadLog, guarded, iter_blocks, need, spec_path

RELATIONS = ("Component-Whole", "Other", "Instrument-Agency", "Member-Collection", "Cause-Effect",
             "Entity-Destination", "Content-Container", "Message-Topic", "Product-Producer", "Entity-Origin")
LABEL_OF = {r: "NA" if r == "Other" else r.lower().replace("-", " ") for r in RELATIONS}  # see the docstring
LABELS = list(LABEL_OF.values())
OTHER_AS_NA = "SemEval Other sentence: relation typed NA between e1 and e2, as in semval-RE"
_REL = re.compile(r"^([A-Za-z]+-[A-Za-z]+)\((e[12]),(e[12])\)$")
_TAG = re.compile(r"</?e[12]>")


def source_files(spec: Mapping[str, Any]) -> list[Path]:
    return [spec_path(spec)]


def _blocks(path: Path) -> Iterator[tuple[str, list[str]]]:
    """``("file:line", [sentence line, relation line])`` per record (comment lines are ignored)."""
    for start, lines in iter_blocks(path):
        block = [line.strip() for _, line in lines if not line.strip().startswith("Comment:")]
        if block:
            yield f"{path}:{start}", block


def _mention(tagged: str, tag: str, where: str) -> str:
    m = re.search(f"<{tag}>(.*?)</{tag}>", tagged)
    need(m is not None and m.group(1).strip() != "", where, "sentence", f"no <{tag}>...</{tag}> mention")
    return m.group(1)  # type: ignore[union-attr]


def read(spec: Mapping[str, Any], read_log: ReadLog) -> Iterator[dict[str, Any]]:
    """Canonical RE records of one SemEval-2010 Task 8 file."""
    path = spec_path(spec)
    dataset, split = spec.get("dataset", "semeval"), spec.get("split", "train")
    keep_other, every, holdout = spec.get("keep_other", True), spec.get("holdout_every"), spec.get("holdout")
    if holdout not in (None, "only", "exclude"):
        raise ValueError(f"semeval: holdout must be 'only' or 'exclude', got {holdout!r}")

    def convert(where: str, numbered: tuple[int, list[str]]) -> dict[str, Any] | None:
        position, block = numbered
        if every and holdout and ((position % every == every - 1) != (holdout == "only")):
            return None
        need(len(block) == 2, where, "<record>", f"expected a sentence line and a relation line, got {block!r}")
        sid, sep, quoted = block[0].partition("\t")
        need(sep == "\t" and quoted.startswith('"') and quoted.endswith('"'), where, "sentence",
             "expected '<id>\\t\"<sentence>\"'")
        tagged = quoted[1:-1]
        e1, e2 = _mention(tagged, "e1", where), _mention(tagged, "e2", where)
        rec: dict[str, Any] = {"id": f"{dataset}/{split}/{sid}", "dataset": dataset, "task": "re",
                               "text": _TAG.sub("", tagged), "labels": LABELS, "relations": []}
        relation = block[1]
        if relation == "Other":
            if not keep_other:
                read_log.note("dropped", "SemEval Other sentence dropped", where)
                return None
            read_log.note("kept", OTHER_AS_NA, where)
            rec["relations"] = [{"type": LABEL_OF["Other"], "head": e1, "tail": e2}]
            return rec
        m = _REL.match(relation)
        need(m is not None, where, "relation", f"expected 'Type-Type(e1,e2)' or 'Other', got {relation!r}")
        name, first, second = m.groups()  # type: ignore[union-attr]
        need(name in LABEL_OF and name != "Other" and first != second, where, "relation",
             f"unknown label {relation!r}")
        rec["relations"] = [{"type": LABEL_OF[name], "head": e1, "tail": e2}]
        return rec

    numbered = ((w, (i, b)) for i, (w, b) in enumerate(_blocks(path)))
    return guarded(numbered, convert, bool(spec.get("strict", True)), read_log)
