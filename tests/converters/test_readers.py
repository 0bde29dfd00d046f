"""Readers and importers on the bundled real data, the IE_INSTRUCTIONS layout, and malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from converters.bundled import BUNDLED, DATA_DIR, bundled_records, bundled_spec
from converters.readers import ReadLog, read_source, source_files
from converters.readers.ie_instructions import NA_KEPT, write_dataset
from converters.readers.semeval import OTHER_AS_NA
from converters.readers.source import iter_json_array
from converters.records import RecordError, validate_record

NCBI_TEST = DATA_DIR / "ncbi_disease/data/NCBI-disease-IOB/test.tsv"
SEMEVAL_TRAIN = DATA_DIR / "semeval_re/SemEval2010_task8_all_data/SemEval2010_task8_training/TRAIN_FILE.TXT"


def _bio_counts(path: Path) -> tuple[int, int]:
    """(sentences, entity mentions) counted straight from the file: blank-line blocks and B- tags."""
    lines = path.read_text(encoding="utf-8").split("\n")
    sentences = sum(1 for i, line in enumerate(lines) if line.strip() and (i == 0 or not lines[i - 1].strip()))
    return sentences, sum(1 for line in lines if line.split("\t")[-1].startswith("B-"))


def test_ncbi_test_slice_counts() -> None:
    recs = bundled_records("ncbi", "test")
    assert (len(recs), sum(len(r["entities"]) for r in recs)) == _bio_counts(NCBI_TEST) == (200, 185)
    assert recs[0]["text"].startswith("Clustering of missense mutations in the ataxia - telangiectasia gene")
    assert recs[0]["entities"][0] == {"type": "Disease", "text": "ataxia - telangiectasia"}
    assert recs[0]["labels"] == ["Disease"]  # as IE_INSTRUCTIONS' ncbi


@pytest.mark.parametrize("name", [n for n in BUNDLED if BUNDLED[n]["spec"]["format"] == "conll"])
def test_conll_counts_match_tags_on_every_split(name: str) -> None:
    for split in ("train", "dev", "test"):
        path = Path(bundled_spec(name, split)["path"])
        recs = bundled_records(name, split)
        assert (len(recs), sum(len(r["entities"]) for r in recs)) == _bio_counts(path)
        for r in recs:
            validate_record(r, r["id"])


def test_conll_offsets_and_verbalisation() -> None:
    spec = {**bundled_spec("crossner_ai", "test"), "offsets": True}
    rec = next(read_source(spec))
    ent = rec["entities"][0]
    assert rec["text"][ent["start"]:ent["end"]] == ent["text"] == "naive Bayes classifier"
    assert ent["tokens"] == [5, 8]
    assert "program language" in rec["labels"] and "programlang" not in rec["labels"]
    assert {"else", "organization"} <= set(rec["labels"]) and not {"misc", "organisation"} & set(rec["labels"])
    raw = next(read_source({**spec, "verbalise": False}))
    assert "programlang" in raw["labels"]


def test_semeval_direction_split_and_other() -> None:
    train, dev, test = (bundled_records("semeval", s) for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (270, 30, 150)
    assert {r["id"] for r in train}.isdisjoint(r["id"] for r in dev)
    assert [r["id"] for r in dev][:2] == ["semeval/dev/10", "semeval/dev/20"]
    first = train[0]  # Component-Whole(e2,e1): head = e1 "configuration", tail = e2, in text order (semval-RE)
    assert first["text"] == ("The system as described above has its greatest application in an arrayed "
                             "configuration of antenna elements.")
    assert first["relations"] == [{"type": "component whole", "head": "configuration", "tail": "elements"}]
    log = ReadLog()
    every = list(read_source({"format": "semeval", "path": str(SEMEVAL_TRAIN)}, log))
    raw = SEMEVAL_TRAIN.read_text(encoding="utf-8").splitlines()  # "<n>\t<sentence>", then its relation line
    sentences = sum(1 for line in raw if line.split("\t")[0].isdigit())
    n_other = sum(1 for line in raw if line.strip() == "Other")
    assert len(every) == sentences == 300 and log.to_json()["kept"] == {OTHER_AS_NA: n_other}
    others = [r for r in every if r["relations"][0]["type"] == "NA"]
    assert len(others) == n_other > 0 and all(r["text"].find(r["relations"][0]["head"]) < r["text"].find(
        r["relations"][0]["tail"]) for r in others)
    log = ReadLog()
    kept = list(read_source({"format": "semeval", "path": str(SEMEVAL_TRAIN), "keep_other": False}, log))
    assert len(kept) == sentences - n_other and log.dropped["SemEval Other sentence dropped"] == n_other
    by_id = {r["id"]: r for r in test}  # 8001 "audits ... waste" is Message-Topic(e1,e2)
    assert by_id["semeval/test/8001"]["relations"][0] == {"type": "message topic", "head": "audits", "tail": "waste"}


def test_phee_events_roles_and_attributes() -> None:
    log = ReadLog()
    recs = list(read_source(bundled_spec("phee", "train"), log))
    raw = [json.loads(line) for line in Path(bundled_spec("phee", "train")["path"]).read_text().splitlines()]
    raw_events = [e for row in raw for e in row["annotations"][0]["events"]]
    assert len(recs) == len(raw) and sum(len(r["events"]) for r in recs) == len(raw_events)
    with_severity = sum("Severity" in e for e in raw_events)
    assert log.dropped["PHEE attribute Severity"] == with_severity > 0
    assert log.dropped["PHEE attribute Speculated"] == sum("Speculated" in e for e in raw_events) > 0
    first = recs[0]["events"][0]
    assert first["type"] == "adverse event" and first["trigger"] == "induced"
    assert first["arguments"] == [{"role": "Effect", "text": "lipoatrophies"}, {"role": "Treatment", "text": "insulin"},
                                  {"role": "Treatment.Drug", "text": "insulin"},
                                  {"role": "Treatment.Disorder", "text": "diabetic"}]
    multi = next(r for r in recs if r["id"] == "phee/train/12552054_1")
    assert any(a["role"] == "Combination.Drug" for e in multi["events"] for a in e["arguments"])
    discontinuous = next(r for r in recs if r["id"] == "phee/train/9220046_2")  # three Treatment pieces
    pieces = [a["text"] for e in discontinuous["events"] for a in e["arguments"] if a["role"] == "Treatment"]
    assert pieces == ["lovastatin", "azithromycin", "clarithromycin"]
    with_attrs = list(read_source({**bundled_spec("phee", "train"), "attributes": True}))
    severity_spans = sum(len(span) for e in raw_events if "Severity" in e for span in e["Severity"]["text"])
    assert sum(a["role"] == "Severity" for r in with_attrs for e in r["events"] for a in e["arguments"]) == \
        severity_spans >= with_severity


# ------------------------------------------------------------------------------------------ IE_INSTRUCTIONS


@pytest.fixture
def ie_tree(tmp_path: Path) -> Path:
    """An IE_INSTRUCTIONS-shaped tree converted from the bundled slices (folder names with spaces)."""
    for name, folder in (("ncbi", "ncbi"), ("crossner_ai", "CrossNER_AI"), ("semeval", "semval-RE"),
                         ("phee", "PHEE")):
        write_dataset({s: bundled_records(name, s) for s in ("train", "dev", "test")}, tmp_path, folder)
    write_dataset({"test": bundled_records("ncbi", "test")[:5]}, tmp_path, "CoNLL 2003")
    return tmp_path


def _strip(rec: dict) -> dict:
    return {k: rec[k] for k in ("text", "labels", "entities", "relations", "events") if k in rec}


@pytest.mark.parametrize(("name", "task", "folder"), [("ncbi", "ner", "ncbi"), ("crossner_ai", "ner", "CrossNER_AI"),
                                                      ("semeval", "re", "semval-RE"), ("phee", "ee", "PHEE")])
def test_ie_instructions_reads_back_the_bundled_data(ie_tree: Path, name: str, task: str, folder: str) -> None:
    spec = {"format": "ie_instructions", "path": str(ie_tree), "task": task, "dataset": folder, "split": "test"}
    log = ReadLog()
    got = list(read_source(spec, log))
    want = bundled_records(name, "test")
    assert [_strip(r) for r in got] == [_strip(r) for r in want]
    assert got[3]["id"] == f"{folder}/test/3" and got[0]["dataset"] == folder
    assert source_files(spec)[0] == ie_tree / task.upper() / folder / "test.json"
    if task == "re":  # SemEval's Other is NA between e1 and e2 in both sources, kept as a relation type
        assert log.to_json()["kept"] == {NA_KEPT: sum(r["relations"][0]["type"] == "NA" for r in want)} != {}


def test_ie_instructions_layout_details(ie_tree: Path) -> None:
    # EE as published: EE/labels.json is [types, roles]; EET/ and EEA/ hold {type: [roles]} and the same records
    types, roles = json.loads((ie_tree / "EE/PHEE/labels.json").read_text())
    assert types == "adverse event,potential therapeutic event" and "Combination.Drug" in roles.split(",")
    for folder in ("EET", "EEA"):
        assert json.loads((ie_tree / folder / "PHEE/labels.json").read_text()) == bundled_records("phee", "test")[0][
            "labels"]
        assert (ie_tree / folder / "PHEE/test.json").read_bytes() == (ie_tree / "EE/PHEE/test.json").read_bytes()
    spec = {"format": "ie_instructions", "path": str(ie_tree), "task": "ee", "dataset": "PHEE", "split": "test"}
    assert source_files(spec)[2] == ie_tree / "EET/PHEE/labels.json"  # the roles per type come from there
    rows = json.loads((ie_tree / "NER/ncbi/test.json").read_text())
    assert isinstance(rows, list) and set(rows[0]) == {"sentence", "entities"}
    recs = list(read_source({"format": "ie_instructions", "path": str(ie_tree), "task": "NER",
                             "dataset": "CoNLL 2003", "split": "test"}))
    assert len(recs) == 5


def test_json_array_streaming_with_tiny_chunks(tmp_path: Path) -> None:
    rows = [{"sentence": f"s{i} é \"q\"", "n": [i, 1.5, None]} for i in range(50)] + [12345]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    got = list(iter_json_array(path, chunk_chars=7))
    assert [obj for _, obj in got] == rows
    second_line = [i for i, line in enumerate(path.read_text().splitlines(), 1) if line == "  {"][1]
    assert second_line == 10 and got[1][0] == f"{path}:10 (index 1)"
    (tmp_path / "e.json").write_text("[]")
    assert list(iter_json_array(tmp_path / "e.json")) == []
    (tmp_path / "bad.json").write_text('[{"a": 1},\n {"a": }]')
    with pytest.raises(RecordError, match=r"bad.json:2 \(index 1\)"):
        list(iter_json_array(tmp_path / "bad.json", chunk_chars=4))


# ------------------------------------------------------------------------------------------------ canonical


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = {"id": "q1", "dataset": "slots", "task": "ner", "text": "cheap flights to Paris tomorrow",
        "labels": ["destination", "date", "price"],
        "entities": [{"type": "destination", "text": "Paris"}, {"type": "date", "text": "tomorrow"}]}


def test_canonical_custom_schema(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "slots.jsonl", [json.dumps(GOOD), json.dumps({**GOOD, "id": "q2"})])
    recs = list(read_source({"format": "canonical", "path": str(path), "task": "ner"}))
    assert [r["id"] for r in recs] == ["q1", "q2"] and recs[0]["entities"][1]["text"] == "tomorrow"


BAD_ROWS = [
    ("{not json", "<json>"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "text"}), "text"),
    (json.dumps({**GOOD, "entities": [{"type": "date", "text": "yesterday"}]}), "entities[0].text"),
    (json.dumps({**GOOD, "entities": [{"type": "airline", "text": "Paris"}]}), "entities[0].type"),
]


@pytest.mark.parametrize(("row", "field"), BAD_ROWS, ids=["bad-json", "missing-field", "absent-span", "unknown-label"])
def test_malformed_canonical_rows(tmp_path: Path, row: str, field: str) -> None:
    path = _write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD), row, json.dumps({**GOOD, "id": "q3"})])
    with pytest.raises(RecordError) as err:
        list(read_source({"format": "canonical", "path": str(path)}))
    assert err.value.where == f"{path}:2" and err.value.field == field
    assert str(path) in str(err.value) and field in str(err.value)
    log = ReadLog()
    recs = list(read_source({"format": "canonical", "path": str(path), "strict": False}, log))
    assert [r["id"] for r in recs] == ["q1", "q3"]
    assert len(log.skipped) == 1 and log.skipped[0]["where"] == f"{path}:2" and log.skipped[0]["field"] == field


def test_malformed_bio_phee_and_semeval(tmp_path: Path) -> None:
    bio = _write_lines(tmp_path / "x.tsv", ["A\tB-Disease", "b\tI-Disease", "", "c\tI-Disease", "", "d\tB-Gene",
                                            "", "e f", "", "g\tO"])
    with pytest.raises(RecordError, match=r"x.tsv:4: field 'tag\[0\]'.*IOB2"):
        list(read_source({"format": "conll", "path": str(bio), "labels": ["Disease"]}))
    log = ReadLog()
    recs = list(read_source({"format": "conll", "path": str(bio), "labels": ["Disease"], "strict": False}, log))
    assert [r["text"] for r in recs] == ["A b", "g"] and recs[1]["id"].endswith("/4")
    assert [(s["where"].rsplit(":", 1)[1], s["field"]) for s in log.skipped] == [("4", "tag[0]"), ("6", "tag[0]"),
                                                                                ("8", "tag")]
    assert "unknown label 'Gene'" in log.skipped[1]["message"]
    phee = _write_lines(tmp_path / "p.json", [json.dumps({"id": "1", "context": "x took y", "annotations": [{"events": [
        {"event_type": "Adverse_event", "Trigger": {"text": [["took"]]}, "Effect": {"text": [["z"]]}}]}]})])
    with pytest.raises(RecordError, match=r"p.json:1: field 'events\[0\].arguments\[0\].text'"):
        list(read_source({"format": "phee", "path": str(phee)}))
    sem = _write_lines(tmp_path / "s.txt", ['1\t"A <e1>b</e1> c <e2>d</e2>."', "Causes(e1,e2)", "Comment:", ""])
    with pytest.raises(RecordError, match=r"s.txt:1: field 'relation'"):
        list(read_source({"format": "semeval", "path": str(sem)}))


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'format' must be one of"):
        read_source({"format": "csv", "path": "x"})
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_source({"format": "conll", "path": str(tmp_path / "nope.tsv")})
