"""Reader (and writer) for the IE_INSTRUCTIONS layout published with InstructUIE, as the real files are.

Layout: ``<data_dir>/<TASK>/<dataset name>/{train,dev,test}.json`` (each ONE JSON array, streamed element by
element) and ``labels.json`` next to them. ``TASK`` is the folder key: ``NER``, ``RE``, ``EE``, and ``EET`` /
``EEA`` (EE data again: the record files of ``EE/X``, ``EET/X`` and ``EEA/X`` are byte-identical). Dataset folder
names may contain spaces (``CoNLL 2003``); ``<name>_sample_<N>`` folders (the down- or over-sampled train sets
InstructUIE's own configs train on) are ordinary dataset folders.

``labels.json``: a list of types in ``NER/`` and ``RE/``; ``{event type: [roles]}`` in ``EET/`` and ``EEA/``; in
``EE/`` a list of two comma-joined strings, ``["type a,type b", "role 1,role 2,..."]``, with no roles per type.
For ``EE/X`` the reader takes the roles per type from ``EET/X/labels.json`` (else ``EEA/X``), which describes the
same records; without either (GENIA) every listed role is allowed for every listed type.

Rows: NER ``{"sentence", "entities": [{"name", "type", "pos"}]}``; RE ``{"sentence", "relations": [{"head":
{"name", ...}, "type", "tail": {...}}]}``; EE ``{"sentence", "events": [{"trigger", "type", "pos", "arguments":
[{"name", "role", "pos"}]}]}``. ``pos`` is not used.

Policies. The published files have anomalies; none may stop a default (strict) build and none may vanish
silently. Each rule below is noted in the ``ReadLog`` under its reason (counted per dataset and split, first
locations kept), and so reaches the stage manifest and the eval report (with its effect on scores, if any):

- entity or event typed ``NA`` or ``""``: left out, as InstructUIE's loader does (not an entity or event).
- relation typed ``NA`` (semval-RE, kbp37): kept as the relation type ``NA``. ``labels.json`` lists NA and
  InstructUIE's gold keeps NA pairs, so the model is asked for them and scored on them consistently (the
  alternative, dropping NA from labels and gold, would make the published numbers unreachable).
- relation typed ``""``: typed ``NA``, which is what InstructUIE's gold writes for it.
- mention with surrounding whitespace (PHEE: 949 of 968 test triggers, ``"After "``): stripped. Same text span;
  both scorers normalise whitespace, so no score changes.
- relation with an empty head or tail (kbp37, wiki_2/3/4): left out of the record (nothing to extract) and kept
  under ``set_aside``, which only the ``instructuie`` scorer reads, because InstructUIE's gold holds it.
- mention that is not a substring of its sentence (TweetNER7 train and dev): the record is left out. Its target
  would break the prompt's exact-substring promise; removing only that mention would teach the model to leave an
  annotated entity out. (No published test set has one.)
- gold type or role missing from ``labels.json`` (CrossNER_music: ``organisation``, ``misc``, 179 of 465 test
  sentences): added to the dataset's schema, so the prompt lists it; dropping them would lose 38 % of the test set.
- empty sentence (Broad Tweet Corpus dev): kept as a record without annotations (InstructUIE scores it too).
- ``EE/`` labels.json as two strings: the roles per type come from ``EET/``/``EEA/`` (see above).

The types added to a schema are those the split's gold uses beyond ``labels.json``, appended in order of first
use (a first streaming pass over the split finds them; its result is cached per file). Anything else wrong with a
row is a ``RecordError`` (raised when strict, skipped and listed otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from converters.readers.source import ReadLog, guarded, iter_json_array, need, spec_path
from converters.records import RecordError, validate_record

TASK_FOLDERS = {"ner": "NER", "re": "RE", "ee": "EE"}
EE_ROLE_FOLDERS = ("EET", "EEA")  # where the per-type roles of EE/<name> are read from
NA = "NA"
_NOT_A_TYPE = (NA, "")

# Reasons of the documented rules (the keys of ReadLog notes), and what a rule changes in the scores.
UNTYPED = "entity or event typed NA or '': left out, as InstructUIE's loader does"
NA_KEPT = "relation typed NA: kept as the relation type NA (labels.json lists it)"
EMPTY_TYPE_AS_NA = "relation typed '': typed NA, as InstructUIE's gold writes it"
STRIPPED = "mention with surrounding whitespace: stripped"
EMPTY_SIDE = "relation with an empty head or tail: left out of the gold (kept in set_aside)"
EMPTY_SIDE_SCORING = ("strict: not in the gold; instructuie: in the gold, as InstructUIE has it (a miss unless the "
                      "answer writes the pair with its empty side, 'TK, ')")
NOT_IN_TEXT = "mention not a substring of the sentence: record left out"
NOT_IN_TEXT_SCORING = "record not scored (InstructUIE scores it)"
EMPTY_SENTENCE = "empty sentence: kept as a record without annotations"
ADDED_SCORING = "the prompt lists this added label (InstructUIE's prompt does not)"
NO_RELATIONS = "RE sentence left without relations: kept as a negative example"

_SCAN_CACHE: dict[tuple[str, int, int], Any] = {}


def added_label(kind: str, name: str, of: str | None = None) -> str:
    """The reason under which a label missing from labels.json is added to the schema."""
    where = f" of {of!r}" if of is not None else ""
    return f"gold {kind} {name!r}{where} not in labels.json: added to the schema"


def _task(spec: Mapping[str, Any]) -> str:
    task = str(spec["task"]).lower()
    if task not in TASK_FOLDERS:
        raise ValueError(f"ie_instructions: task must be one of {sorted(TASK_FOLDERS)}, got {spec['task']!r}")
    return task


def split_file(spec: Mapping[str, Any]) -> Path:
    """``<path>/<TASK>/<dataset>/<split>.json`` for a spec; the folder key defaults from the task."""
    folder = spec.get("task_folder") or TASK_FOLDERS[_task(spec)]
    return spec_path(spec) / folder / spec["dataset"] / f"{spec.get('split', 'train')}.json"


def _role_source(labels_path: Path) -> Path | None:
    """For ``EE/X/labels.json``: the ``EET/X`` or ``EEA/X`` labels.json with the roles per type, if any."""
    for folder in EE_ROLE_FOLDERS:
        candidate = labels_path.parent.parent.parent / folder / labels_path.parent.name / "labels.json"
        if candidate.is_file():
            return candidate
    return None


def source_files(spec: Mapping[str, Any]) -> list[Path]:
    path = split_file(spec)
    labels = path.parent / "labels.json"
    roles = _role_source(labels) if _task(spec) == "ee" else None
    return [path, labels, *([roles] if roles else [])]


def load_labels(task: str, labels_path: Path, read_log: ReadLog) -> Any:
    """A ``labels.json`` as a label set: a list of types, or {event type: [roles]} for EE (``EE/`` lists resolved
    as the module docstring says; the repair is noted in ``read_log``)."""
    where = str(labels_path)
    if not labels_path.is_file():
        raise FileNotFoundError(f"ie_instructions: {labels_path} does not exist")
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    if task != "ee":
        need(isinstance(labels, list) and all(isinstance(x, str) for x in labels), where, "<labels>",
             "labels.json must be a list of types")
        return list(labels)
    if isinstance(labels, dict):
        need(all(isinstance(v, list) for v in labels.values()), where, "<labels>",
             "EE labels.json must be {event type: [roles]} or [event types, roles]")
        return {str(k): [str(r) for r in v] for k, v in labels.items()}
    need(isinstance(labels, list) and len(labels) == 2 and all(isinstance(x, str) for x in labels), where,
         "<labels>", "EE labels.json must be {event type: [roles]} or [\"type,type,...\", \"role,role,...\"]")
    types, roles = ([x.strip() for x in part.split(",") if x.strip()] for part in labels)
    source = _role_source(labels_path)
    if source is not None:
        by_type = load_labels("ee", source, read_log)
        need(isinstance(by_type, dict), str(source), "<labels>", "expected {event type: [roles]}")
        named = f"{source.parent.parent.name}/{source.parent.name}/labels.json"
        read_log.note("repaired", f"EE labels.json is [event types, roles]: roles per type read from {named}", where)
        extra = [t for t in types if t not in by_type]
        return {**by_type, **{t: roles for t in extra}}
    read_log.note("repaired", "EE labels.json is [event types, roles] and no EET/EEA labels.json names the roles "
                              "per type: every listed role allowed for every type", where)
    return {t: list(roles) for t in types}


def _used_labels(task: str, path: Path) -> Any:
    """What the gold of one split uses: types in first-use order (EE: {type: [roles]}), from a streaming pass.

    The pass parses the file once more (about half the reading time, once per file and process: the result is
    cached by path, size and mtime, and the stages of one run read the same training files).
    """
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _SCAN_CACHE:
        return _SCAN_CACHE[key]
    used: dict[str, dict[str, None]] = {}
    units = {"ner": "entities", "re": "relations", "ee": "events"}[task]
    for _, row in iter_json_array(path):
        items = row.get(units) if isinstance(row, dict) else None
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                continue
            etype = NA if task == "re" and item["type"] == "" else item["type"]
            if task != "re" and etype in _NOT_A_TYPE:
                continue
            roles = used.setdefault(etype, {})
            for arg in item.get("arguments", ()) if task == "ee" else ():
                if isinstance(arg, dict) and isinstance(arg.get("role"), str):
                    roles[arg["role"]] = None
    result = {t: list(r) for t, r in used.items()} if task == "ee" else list(used)
    if len(_SCAN_CACHE) > 256:
        _SCAN_CACHE.clear()
    _SCAN_CACHE[key] = result
    return result


def _schema(task: str, listed: Any, used: Any) -> tuple[Any, dict[str, str]]:
    """The listed labels plus what the gold uses beyond them; and reason per added type (EE: per type/role)."""
    if task != "ee":
        extra = [t for t in used if t not in listed]
        return [*listed, *extra], {t: added_label("type", t) for t in extra}
    schema = {t: list(r) for t, r in listed.items()}
    added: dict[str, str] = {}
    for etype, roles in used.items():
        if etype not in schema:
            schema[etype] = []
            added[etype] = added_label("event type", etype)
        for role in roles:
            if role not in schema[etype]:
                schema[etype].append(role)
                added[f"{etype}\0{role}"] = added_label("role", role, etype)
    return schema, added


def read(spec: Mapping[str, Any], read_log: ReadLog) -> Iterator[dict[str, Any]]:
    """Canonical records of one split of one IE_INSTRUCTIONS dataset (spec keys: path, task, dataset, split;
    optional task_folder, dataset_name, strict)."""
    task = _task(spec)
    path = split_file(spec)
    if not path.exists():
        raise FileNotFoundError(f"ie_instructions: {path} does not exist")
    labels_path = path.parent / "labels.json"
    labels, added = _schema(task, load_labels(task, labels_path, read_log), _used_labels(task, path))
    for reason in added.values():
        read_log.note("repaired", reason, str(labels_path), ADDED_SCORING, count=0)
    name = spec.get("dataset_name") or spec["dataset"]
    split = spec.get("split", "train")
    rules = _Rules(task, added, read_log)

    def convert(where: str, row: Any) -> dict[str, Any] | None:
        need(isinstance(row, dict), where, "<row>", "expected a JSON object")
        need(isinstance(row.get("sentence"), str), where, "sentence", "missing or not a string")
        text = row["sentence"]
        index = where.rsplit("index ", 1)[-1].rstrip(")")
        rec: dict[str, Any] = {"id": str(row.get("id", f"{name}/{split}/{index}")), "dataset": name,
                               "task": task, "text": text, "labels": labels}
        try:
            rules.fill(rec, row, where)
        except _LeaveOut:
            return None
        if not text:
            read_log.note("kept", EMPTY_SENTENCE, where)
        return validate_record(rec, where)

    return guarded(iter_json_array(path), convert, bool(spec.get("strict", True)), read_log)


class _LeaveOut(Exception):
    """A documented rule leaves the whole record out (already noted)."""


class _Rules:
    """The documented policies, applied to one row at a time (each application noted in the read log)."""

    def __init__(self, task: str, added: Mapping[str, str], read_log: ReadLog) -> None:
        self.task, self.added, self.log = task, added, read_log

    def fill(self, rec: dict[str, Any], row: Mapping[str, Any], where: str) -> None:
        if self.task == "ner":
            rec["entities"] = self._entities(row, rec["text"], where)
        elif self.task == "re":
            rec["relations"], aside = self._relations(row, rec["text"], where)
            if aside:
                rec["set_aside"] = {"relations": aside}
            if not rec["relations"]:
                self.log.note("kept", NO_RELATIONS, where)
        else:
            rec["events"] = self._events(row, rec["text"], where)

    def _mention(self, value: Any, text: str, where: str, field: str, may_be_empty: bool = False) -> str:
        """A mention, stripped (noted); not in the text: the record is left out (noted)."""
        need(isinstance(value, str), where, field, "missing or not a string")
        stripped = value.strip()
        if stripped != value:
            self.log.note("repaired", STRIPPED, f"{where} {field}")
        if not stripped:
            if may_be_empty:
                return ""
            raise RecordError(where, field, "must be a non-empty string")
        if stripped not in text:
            self.log.note("dropped", NOT_IN_TEXT, f"{where} {field}={value!r}", NOT_IN_TEXT_SCORING)
            raise _LeaveOut
        return stripped

    def _label(self, key: str, where: str) -> None:
        reason = self.added.get(key)
        if reason is not None:
            self.log.note("repaired", reason, where, ADDED_SCORING)

    def _items(self, row: Mapping[str, Any], key: str, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(field, item)`` for the objects of the row's ``key`` list, each with a string ``type``; entities and
        events typed NA or '' are left out (noted), relations keep them (see ``_relations``)."""
        value = row.get(key)
        need(isinstance(value, list), where, key, "missing or not a list")
        for i, item in enumerate(value):  # type: ignore[arg-type]
            f = f"{key}[{i}]"
            need(isinstance(item, dict) and isinstance(item.get("type"), str), where, f,
                 "must be an object with a string 'type'")
            if key != "relations" and item["type"] in _NOT_A_TYPE:
                self.log.note("dropped", UNTYPED, f"{where} {f}")
                continue
            self._label(item["type"] or NA, where)
            yield f, item

    def _entities(self, row: Mapping[str, Any], text: str, where: str) -> list[dict[str, str]]:
        return [{"type": ent["type"], "text": self._mention(ent.get("name"), text, where, f"{f}.name")}
                for f, ent in self._items(row, "entities", where)]

    def _relations(self, row: Mapping[str, Any], text: str, where: str
                   ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        out, aside = [], []
        for f, rel in self._items(row, "relations", where):
            for side in ("head", "tail"):
                need(isinstance(rel.get(side), dict), where, f"{f}.{side}", "missing or not an object")
            rtype = rel["type"]
            if rtype == "":
                rtype = NA
                self.log.note("repaired", EMPTY_TYPE_AS_NA, f"{where} {f}")
            elif rtype == NA:
                self.log.note("kept", NA_KEPT, f"{where} {f}")
            head, tail = (self._mention(rel[s].get("name"), text, where, f"{f}.{s}.name", may_be_empty=True)
                          for s in ("head", "tail"))
            unit = {"type": rtype, "head": head, "tail": tail}
            if head and tail:
                out.append(unit)
            else:
                self.log.note("dropped", EMPTY_SIDE, f"{where} {f}", EMPTY_SIDE_SCORING)
                aside.append(unit)
        return out, aside

    def _events(self, row: Mapping[str, Any], text: str, where: str) -> list[dict[str, Any]]:
        out = []
        for f, ev in self._items(row, "events", where):
            trigger = self._mention(ev.get("trigger"), text, where, f"{f}.trigger")
            args = []
            for j, arg in enumerate(ev.get("arguments", [])):
                g = f"{f}.arguments[{j}]"
                need(isinstance(arg, dict) and isinstance(arg.get("role"), str), where, g, "needs 'name' and 'role'")
                self._label(f"{ev['type']}\0{arg['role']}", where)
                args.append({"role": arg["role"], "text": self._mention(arg.get("name"), text, where, f"{g}.name")})
            out.append({"type": ev["type"], "trigger": trigger, "arguments": args})
        return out


# ------------------------------------------------------------------------------------------------- writer


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
    """Write canonical records in the published layout; returns the ``<TASK>/<dataset>`` folder.

    NER/RE: ``<TASK>/<dataset>/{split}.json`` + ``labels.json`` (a list). EE as published: the same record files
    in ``EE/``, ``EET/`` and ``EEA/``; ``EE/labels.json`` is ``[event types, roles]`` (comma-joined), the other two
    ``{event type: [roles]}``. The labels are those of the first record (one dataset has one schema).
    """
    first = next(r for rows in records_by_split.values() for r in rows)
    labels = first["labels"]
    folders = {TASK_FOLDERS[first["task"]]: labels}
    if first["task"] == "ee":
        roles = dict.fromkeys(r for rs in labels.values() for r in rs)
        folders = {"EE": [",".join(labels), ",".join(roles)], **{f: labels for f in EE_ROLE_FOLDERS}}
    for task_folder, folder_labels in folders.items():
        folder = Path(data_dir) / task_folder / dataset
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "labels.json").write_text(json.dumps(folder_labels, ensure_ascii=False), encoding="utf-8")
        for split, rows in records_by_split.items():
            (folder / f"{split}.json").write_text(
                json.dumps([to_ie_instructions(r) for r in rows], ensure_ascii=False, indent=1), encoding="utf-8")
    return Path(data_dir) / TASK_FOLDERS[first["task"]] / dataset
