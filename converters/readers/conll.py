"""Importer for CoNLL/BIO token files (CrossNER, NCBI-disease): ``token<TAB>tag`` per line, blank line between
sentences, IOB2 tags (``B-type`` / ``I-type`` / ``O``).

As in IE_INSTRUCTIONS, the sentence text is the tokens joined by single spaces and an entity's text is its
tokens joined by single spaces. With ``offsets: true`` each entity also carries ``start``/``end`` (character
offsets in that text, end exclusive) and ``tokens`` ([first, last+1) token indices), so token-level scoring
(seqeval) can be reconstructed. An ``I-`` tag that does not continue an entity of the same type is a
``RecordError`` (strict IOB2); so is a type outside ``labels`` when labels are given.

Label verbalisation (raw tag type -> label the model sees), applied unless ``verbalise: false``; types not
listed keep their raw name. It is the one IE_INSTRUCTIONS uses for the same corpora (``CrossNER_*``, ``ncbi``,
``CoNLL 2003``: ``else``, ``organization``, ``program language``, multi-word types spaced, ``Disease`` kept), so
a model trained on one source is asked and scored with the same labels on the other:

| raw | label |            | raw | label |
| --- | --- | --- | --- | --- |
| misc | else |            | musicalinstrument | musical instrument |
| organisation | organization | | musicgenre | music genre |
| programlang | program language | | politicalparty | political party |
| literarygenre | literary genre | | academicjournal | academic journal |
| musicalartist | musical artist | | astronomicalobject | astronomical object |
| chemicalcompound | chemical compound | | chemicalelement | chemical element |

Spec keys: ``path`` (a file), ``dataset``, ``split``, ``labels`` (raw type names, schema order; default: the
types found in the file, in first-appearance order, by a cheap first pass), ``offsets``, ``verbalise``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from converters.readers.source import ReadLog, guarded, iter_blocks, need, spec_path
from converters.records import RecordError

VERBALISE = {
    "misc": "else",
    "organisation": "organization",
    "programlang": "program language",
    "literarygenre": "literary genre",
    "musicalartist": "musical artist",
    "musicalinstrument": "musical instrument",
    "musicgenre": "music genre",
    "politicalparty": "political party",
    "academicjournal": "academic journal",
    "astronomicalobject": "astronomical object",
    "chemicalcompound": "chemical compound",
    "chemicalelement": "chemical element",
}


def source_files(spec: Mapping[str, Any]) -> list[Path]:
    return [spec_path(spec)]


def _sentences(path: Path) -> Iterator[tuple[str, Any]]:
    """``("file:line", [(token, tag), ...])`` per sentence; a line without a tab yields a ``RecordError``."""
    for start, lines in iter_blocks(path):
        rows: list[tuple[str, str]] = []
        for lineno, line in lines:
            token, sep, tag = line.partition("\t")
            if not sep or not token or not tag:
                problem = f"expected 'token<TAB>tag', got {line!r}"
                yield f"{path}:{start}", RecordError(f"{path}:{lineno}", "tag", problem)
                break
            rows.append((token, tag.strip()))
        else:
            yield f"{path}:{start}", rows


def scan_types(path: Path) -> list[str]:
    """Raw entity types of a BIO file in first-appearance order (the default label set)."""
    seen: dict[str, None] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            tag = line.rstrip("\r\n").rpartition("\t")[2]
            if tag[:2] in ("B-", "I-"):
                seen[tag[2:]] = None
    return list(seen)


def read(spec: Mapping[str, Any], read_log: ReadLog) -> Iterator[dict[str, Any]]:
    """Canonical NER records of one BIO file."""
    path = spec_path(spec)
    raw_labels = list(spec.get("labels") or scan_types(path))
    verbal = {t: VERBALISE.get(t, t) for t in raw_labels} if spec.get("verbalise", True) else {t: t for t in raw_labels}
    labels = list(dict.fromkeys(verbal.values()))
    dataset, split, offsets = spec.get("dataset", path.parent.name), spec.get("split", path.stem), spec.get("offsets")

    def convert(where: str, numbered: tuple[int, list[tuple[str, str]]]) -> dict[str, Any]:
        index, tokens = numbered
        words = [tok for tok, _ in tokens]
        starts, pos = [], 0
        for w in words:
            starts.append(pos)
            pos += len(w) + 1
        entities: list[dict[str, Any]] = []
        current: tuple[str, int] | None = None  # (raw type, first token)

        def close(end: int) -> None:
            etype, first = current  # type: ignore[misc]
            ent: dict[str, Any] = {"type": verbal[etype], "text": " ".join(words[first:end])}
            if offsets:
                ent.update(start=starts[first], end=starts[end - 1] + len(words[end - 1]), tokens=[first, end])
            entities.append(ent)

        for i, (_, tag) in enumerate(tokens):
            kind, _, etype = tag.partition("-")
            if tag == "O" or kind == "B":
                if current:
                    close(i)
                current = None
            if tag == "O":
                continue
            need(kind in ("B", "I") and etype != "", where, f"tag[{i}]", f"not an IOB2 tag: {tag!r}")
            need(etype in verbal, where, f"tag[{i}]", f"unknown label {etype!r}; known: {raw_labels}")
            if kind == "I":
                need(current is not None and current[0] == etype, where, f"tag[{i}]",
                     f"{tag!r} does not continue an entity of type {etype!r} (IOB2)")
                continue
            current = (etype, i)
        if current:
            close(len(tokens))
        return {"id": f"{dataset}/{split}/{index}", "dataset": dataset, "task": "ner", "text": " ".join(words),
                "labels": labels, "entities": entities}

    numbered = ((w, r if isinstance(r, RecordError) else (i, r)) for i, (w, r) in enumerate(_sentences(path)))
    return guarded(numbered, convert, bool(spec.get("strict", True)), read_log)
