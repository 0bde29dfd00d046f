"""Reader (and writer) for the IE_INSTRUCTIONS layout published with InstructUIE.

Layout: ``<data_dir>/<TASK>/<dataset name>/{train,dev,test}.json`` (each ONE JSON array, streamed element by
element) and ``labels.json`` next to them: a list of types for NER/RE, ``{event type: [roles]}`` for EE.
``TASK`` is the folder key (``NER``, ``RE``, ``EE``, ``EET``, ``EEA``; the last two hold EE data); dataset
folder names may contain spaces (``CoNLL 2003``).

Rows: NER ``{"sentence", "entities": [{"name", "type", "pos"}]}``; RE ``{"sentence", "relations": [{"head":
{"name"}, "type", "tail": {"name"}}]}``; EE ``{"sentence", "events": [{"trigger", "type", "arguments":
[{"name", "role"}]}]}``. ``pos`` is not used (empty in EE files).

Rules kept from the reference loader, each counted in ``ReadLog.dropped``:
- an entity whose type is ``"NA"`` or ``""`` is dropped ("NER entity typed NA/empty");
- a relation whose type is ``"NA"`` or ``""`` is dropped from the record ("RE relation typed NA/empty"). The
  reference keeps such pairs in its gold as ``NA: head, tail`` but never trains on them, so a model cannot
  produce them; our gold holds what the format can express. A sentence left with no relation is kept with
  ``relations: []`` (a negative example) and counted as "RE sentence without relations".
Any other unknown type or role, or a mention that is not a substring of the sentence, is a ``RecordError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from converters.readers.source import ReadLog, guarded, iter_json_array, need, spec_path
from converters.records import validate_record

TASK_FOLDERS = {"ner": "NER", "re": "RE", "ee": "EE"}
_EMPTY_TYPES = ("NA", "")


def split_file(spec: Mapping[str, Any]) -> Path:
    """``<path>/<TASK>/<dataset>/<split>.json`` for a spec; the folder key defaults from the task."""
    folder = spec.get("task_folder") or TASK_FOLDERS[str(spec["task"]).lower()]
    return spec_path(spec) / folder / spec["dataset"] / f"{spec.get('split', 'train')}.json"


def source_files(spec: Mapping[str, Any]) -> list[Path]:
    path = split_file(spec)
    return [path, path.parent / "labels.json"]


def read(spec: Mapping[str, Any], read_log: ReadLog) -> Iterator[dict[str, Any]]:
    """Canonical records of one split of one IE_INSTRUCTIONS dataset (spec keys: path, task, dataset, split)."""
    task = str(spec["task"]).lower()
    if task not in TASK_FOLDERS:
        raise ValueError(f"ie_instructions: task must be one of {sorted(TASK_FOLDERS)}, got {spec['task']!r}")
    path = split_file(spec)
    if not path.exists():
        raise FileNotFoundError(f"ie_instructions: {path} does not exist")
    labels_path = path.parent / "labels.json"
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    if task == "ee":
        need(isinstance(labels, dict), str(labels_path), "<labels>", "EE labels.json must be {event type: [roles]}")
    else:
        need(isinstance(labels, list), str(labels_path), "<labels>", "labels.json must be a list of types")
    name = spec.get("dataset_name") or spec["dataset"]
    split = spec.get("split", "train")

    def convert(where: str, row: Any) -> dict[str, Any]:
        need(isinstance(row, dict), where, "<row>", "expected a JSON object")
        need(isinstance(row.get("sentence"), str), where, "sentence", "missing or not a string")
        index = where.rsplit("index ", 1)[-1].rstrip(")")
        rec: dict[str, Any] = {"id": str(row.get("id", f"{name}/{split}/{index}")), "dataset": name,
                               "task": task, "text": row["sentence"], "labels": labels}
        if task == "ner":
            rec["entities"] = _entities(row, where, read_log)
        elif task == "re":
            rec["relations"] = _relations(row, where, read_log)
        else:
            rec["events"] = _events(row, where)
        return validate_record(rec, where)

    return guarded(iter_json_array(path), convert, bool(spec.get("strict", True)), read_log)


def _list(row: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = row.get(key)
    need(isinstance(value, list), where, key, "missing or not a list")
    return value  # type: ignore[return-value]


def _entities(row: Mapping[str, Any], where: str, read_log: ReadLog) -> list[dict[str, str]]:
    out = []
    for i, ent in enumerate(_list(row, "entities", where)):
        need(isinstance(ent, dict) and "name" in ent and "type" in ent, where, f"entities[{i}]",
             "needs 'name' and 'type'")
        if ent["type"] in _EMPTY_TYPES:
            read_log.dropped["NER entity typed NA/empty"] += 1
            continue
        out.append({"type": ent["type"], "text": ent["name"]})
    return out


def _relations(row: Mapping[str, Any], where: str, read_log: ReadLog) -> list[dict[str, str]]:
    out = []
    for i, rel in enumerate(_list(row, "relations", where)):
        f = f"relations[{i}]"
        need(isinstance(rel, dict) and "type" in rel, where, f, "needs 'type', 'head' and 'tail'")
        for side in ("head", "tail"):
            need(isinstance(rel.get(side), dict) and "name" in rel[side], where, f"{f}.{side}.name", "missing")
        if rel["type"] in _EMPTY_TYPES:
            read_log.dropped["RE relation typed NA/empty"] += 1
            continue
        out.append({"type": rel["type"], "head": rel["head"]["name"], "tail": rel["tail"]["name"]})
    if not out:
        read_log.dropped["RE sentence without relations"] += 1
    return out


def _events(row: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    out = []
    for i, ev in enumerate(_list(row, "events", where)):
        f = f"events[{i}]"
        need(isinstance(ev, dict) and "type" in ev and "trigger" in ev, where, f, "needs 'type' and 'trigger'")
        args = []
        for j, arg in enumerate(ev.get("arguments", [])):
            need(isinstance(arg, dict) and "name" in arg and "role" in arg, where, f"{f}.arguments[{j}]",
                 "needs 'name' and 'role'")
            args.append({"role": arg["role"], "text": arg["name"]})
        out.append({"type": ev["type"], "trigger": ev["trigger"], "arguments": args})
    return out


def to_ie_instructions(record: Mapping[str, Any]) -> dict[str, Any]:
    """One canonical record as an IE_INSTRUCTIONS row (``pos`` = first occurrence, [start, end) characters)."""
    text = record["text"]

    def span(value: str) -> list[int]:
        start = text.find(value)
        return [start, start + len(value)]

    if record["task"] == "ner":
        return {"sentence": text, "entities": [{"name": e["text"], "type": e["type"], "pos": span(e["text"])}
                                               for e in record["entities"]]}
    if record["task"] == "re":
        return {"sentence": text, "relations": [
            {"head": {"name": r["head"], "pos": span(r["head"])}, "type": r["type"],
             "tail": {"name": r["tail"], "pos": span(r["tail"])}} for r in record["relations"]]}
    return {"sentence": text, "events": [
        {"trigger": e["trigger"], "type": e["type"], "pos": [],
         "arguments": [{"name": a["text"], "role": a["role"], "pos": []} for a in e["arguments"]]}
        for e in record["events"]]}


def write_dataset(records_by_split: Mapping[str, list[Mapping[str, Any]]], data_dir: Path, dataset: str) -> Path:
    """Write canonical records as ``<data_dir>/<TASK>/<dataset>/{split}.json`` + ``labels.json``; returns the folder.

    The labels are those of the first record (one dataset has one schema).
    """
    first = next(r for rows in records_by_split.values() for r in rows)
    folder = Path(data_dir) / TASK_FOLDERS[first["task"]] / dataset
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.json").write_text(json.dumps(first["labels"], ensure_ascii=False), encoding="utf-8")
    for split, rows in records_by_split.items():
        (folder / f"{split}.json").write_text(
            json.dumps([to_ie_instructions(r) for r in rows], ensure_ascii=False, indent=1), encoding="utf-8")
    return folder
