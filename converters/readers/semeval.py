"""Importer for SemEval-2010 Task 8 files (``TRAIN_FILE.TXT``, ``TEST_FILE_FULL.TXT``).

Each record is four lines: ``<id>\\t"<sentence with <e1>..</e1> and <e2>..</e2>>"``, the relation
(``Cause-Effect(e2,e1)`` or ``Other``), ``Comment: ...`` and a blank line. The tags are stripped; the text
inside them is the entity mention.

Direction: ``Rel-A-B(e1,e2)`` means e1 plays A and e2 plays B; ``(e2,e1)`` the reverse. The head is always the
entity playing the first role of the name, so ``Cause-Effect(e2,e1)`` gives head = e2 (the cause), tail = e1.

Verbalisation (lower-case, hyphen to space):

| raw | label | raw | label |
| --- | --- | --- | --- |
| Cause-Effect | cause effect | Instrument-Agency | instrument agency |
| Component-Whole | component whole | Member-Collection | member collection |
| Content-Container | content container | Message-Topic | message topic |
| Entity-Destination | entity destination | Product-Producer | product producer |
| Entity-Origin | entity origin | | |

``Other`` sentences are kept with ``relations: []`` (negative examples for a set-based scorer) and counted
as "SemEval Other sentence kept without relations"; ``keep_other: false`` drops them (IE_INSTRUCTIONS RE
instances need >= 1 relation), counted as "SemEval Other sentence dropped".

The released data has no dev split. ``holdout_every: k`` with ``holdout: "only"`` keeps every k-th record
(0-based positions k-1, 2k-1, ...) of the file and ``holdout: "exclude"`` keeps the others, a deterministic
split the bundled spec uses to derive dev from train.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Mapping

from converters.readers.source import ReadLog, guarded, iter_blocks, need, spec_path

RELATIONS = ("Cause-Effect", "Component-Whole", "Content-Container", "Entity-Destination", "Entity-Origin",
             "Instrument-Agency", "Member-Collection", "Message-Topic", "Product-Producer")
LABEL_OF = {r: r.lower().replace("-", " ") for r in RELATIONS}  # the verbalisation table of the docstring
LABELS = list(LABEL_OF.values())
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
            read_log.dropped["SemEval Other sentence " + ("kept without relations" if keep_other else "dropped")] += 1
            return rec if keep_other else None
        m = _REL.match(relation)
        need(m is not None, where, "relation", f"expected 'Type-Type(e1,e2)' or 'Other', got {relation!r}")
        name, first, second = m.groups()  # type: ignore[union-attr]
        need(name in LABEL_OF and first != second, where, "relation", f"unknown label {relation!r}")
        mentions = {"e1": e1, "e2": e2}
        rec["relations"] = [{"type": LABEL_OF[name], "head": mentions[first],
                             "tail": mentions[second]}]
        return rec

    numbered = ((w, (i, b)) for i, (w, b) in enumerate(_blocks(path)))
    return guarded(numbered, convert, bool(spec.get("strict", True)), read_log)
