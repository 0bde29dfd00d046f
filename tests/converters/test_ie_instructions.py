"""The IE_INSTRUCTIONS reader on the layout as published: every anomaly's policy (synthetic tree in the real
layout, ``tests/helpers/ie_tree.py``), the real sample read completely with the recipe defaults, the bundled
sources' verbalisations against the real label files, and ``prouie_4b`` building every stage from the tree."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from converters.bundled import BUNDLED, bundled_records
from converters.readers import ReadLog, read_source
from converters.readers import ie_instructions as ie
from converters.records import RecordError
from eval.instructuie import gold_answer
from eval.label_check import label_names, label_warnings
from eval.metrics import score
from launch.compose import compose_recipe
from launch.driver import build_data
from launch.plan import build_plan
from tests.helpers.ie_tree import ANOMALIES, write_ie_tree
from tests.helpers.inputs import upstream_input

TASK_OF = {"NER": "ner", "RE": "re", "EE": "ee", "EET": "ee", "EEA": "ee"}
UNITS = {"ner": "entities", "re": "relations", "ee": "events"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ie_tree(tmp_path_factory.mktemp("ie"))


def read(root: Path, folder: str, dataset: str, split: str) -> tuple[list[dict], ReadLog]:
    """Read one split with the recipe defaults (strict), as a stage build or a benchmark does."""
    log = ReadLog()
    spec = {"format": "ie_instructions", "path": str(root), "task": TASK_OF[folder], "task_folder": folder,
            "dataset": dataset, "split": split}
    return list(read_source(spec, log)), log


def notes(log: ReadLog) -> dict[str, tuple[str, int]]:
    return {reason: (n["action"], n["count"]) for reason, n in log.to_json()["notes"].items()}


def counts(result: dict) -> tuple[int, int, int]:
    return result["tp"], result["fp"], result["fn"]


# ------------------------------------------------------------------------------------- one test per anomaly


def test_mention_not_in_the_sentence_leaves_the_record_out(tree: Path) -> None:
    recs, log = read(tree, "NER", "TweetNER7", "train")
    raw = json.loads((tree / "NER/TweetNER7/train.json").read_text())
    assert len(recs) == len(raw) - 2 and notes(log) == {ie.NOT_IN_TEXT: ("dropped", 2)}
    assert log.to_json()["notes"][ie.NOT_IN_TEXT]["examples"][0].endswith("(index 4) entities[0].name='._ SJOsborne _'")
    assert log.to_json()["notes"][ie.NOT_IN_TEXT]["scoring"] == ie.NOT_IN_TEXT_SCORING
    assert all(e["text"] in r["text"] for r in recs for e in r["entities"])
    dev, log = read(tree, "NER", "TweetNER7", "dev")
    assert notes(log) == {ie.NOT_IN_TEXT: ("dropped", 1)}


def test_empty_sentence_is_an_empty_gold_record(tree: Path) -> None:
    recs, log = read(tree, "NER", "Broad Tweet Corpus", "dev")
    empty = [r for r in recs if r["text"] == ""]
    assert len(empty) == 1 and empty[0]["entities"] == [] and empty[0]["id"] == "Broad Tweet Corpus/dev/4"
    assert notes(log) == {ie.EMPTY_SENTENCE: ("kept", 1)}


def test_gold_types_missing_from_labels_json_are_added_to_the_schema(tree: Path) -> None:
    recs, log = read(tree, "NER", "CrossNER_music", "test")
    listed = json.loads((tree / "NER/CrossNER_music/labels.json").read_text())
    assert len(recs) == 6  # nothing lost
    assert all(r["labels"] == [*listed, "organisation", "misc"] for r in recs)  # appended in order of first use
    assert all(r["labels"] is recs[0]["labels"] for r in recs)  # one schema for the whole split
    assert notes(log) == {ie.added_label("type", "organisation"): ("repaired", 2),
                          ie.added_label("type", "misc"): ("repaired", 1)}
    assert {n["scoring"] for n in log.to_json()["notes"].values()} == {ie.ADDED_SCORING}
    dev, _ = read(tree, "NER", "CrossNER_music", "dev")
    assert dev[0]["labels"] == [*listed, "organisation"]


def test_empty_head_or_tail_is_set_aside(tree: Path) -> None:
    recs, log = read(tree, "RE", "kbp37", "test")
    only = next(r for r in recs if r["text"] == "TK and more .")
    assert only["relations"] == [] and only["set_aside"] == {"relations": [{"type": "subsidiaries", "head": "TK",
                                                                            "tail": ""}]}
    assert notes(log) == {ie.EMPTY_SIDE: ("dropped", 1), ie.NA_KEPT: ("kept", 1), ie.NO_RELATIONS: ("kept", 1)}
    train, log = read(tree, "RE", "kbp37", "train")
    both = next(r for r in train if r["text"] == "TK owns Acme .")
    assert both["relations"] == [{"type": "subsidiaries", "head": "TK", "tail": "Acme"}] and "set_aside" in both
    wiki, log = read(tree, "RE", "wiki_2", "test")
    assert notes(log)[ie.EMPTY_SIDE] == ("dropped", 1)


def test_na_relations_are_an_ordinary_relation_type(tree: Path) -> None:
    recs, log = read(tree, "RE", "semval-RE", "test")
    na = [r for r in recs if r["relations"][0]["type"] == "NA"]
    assert len(na) == 2 and na[0]["relations"] == [{"type": "NA", "head": "cat", "tail": "mat"}]
    assert "NA" in recs[0]["labels"] and notes(log) == {ie.NA_KEPT: ("kept", 2)}
    train, log = read(tree, "RE", "semval-RE", "train")  # a relation typed "" is NA, as InstructUIE's gold has it
    assert next(r for r in train if r["text"] == "the cup on the desk .")["relations"][0]["type"] == "NA"
    assert notes(log) == {ie.NA_KEPT: ("kept", 1), ie.EMPTY_TYPE_AS_NA: ("repaired", 1)}


def test_entities_and_events_typed_na_or_empty_are_left_out_and_relations_typed_empty_are_na(tree: Path) -> None:
    """InstructUIE's loader (uie_dataset.py) skips entities and events typed NA or '' and writes relations typed
    NA or '' as NA: the reader does the same, so the ``instructuie`` gold and its numbers (worked by hand from
    InstructUIE's rules: items are the normalised ``type: value`` pieces) are InstructUIE's."""
    ner, log = read(tree, "NER", "ACE 2005", "train")
    ann = ner[-1]
    assert ann["entities"] == [{"type": "person", "text": "Ann"}] and notes(log) == {ie.UNTYPED: ("dropped", 2)}
    assert not {"NA", ""} & set(ann["labels"])  # the schema does not gain them either
    assert gold_answer(ann, "ner") == " person: Ann"
    assert counts(score("ner", [ann], ['{"person": "Ann"}'], scorer="instructuie")) == (1, 0, 0)
    assert counts(score("ner", [ann], ['{"person": "Ann", "NA": "runs"}'], scorer="instructuie")) == (1, 1, 0)

    ee, log = read(tree, "EET", "ACE05", "train")
    rebels = ee[-1]
    assert [(e["type"], e["trigger"]) for e in rebels["events"]] == [("die", "didn 't kill")]
    assert notes(log) == {ie.UNTYPED: ("dropped", 2)} and not {"NA", ""} & set(rebels["labels"])
    assert (gold_answer(rebels, "eet"), gold_answer(rebels, "eea")) == (" die: didn #$%#t kill", " mayor: victim")
    result = score("ee", [rebels], ['{"die": "didn \'t kill: victim: mayor"}'], scorer="instructuie")
    assert result["trigger"]["correct"] == 1 and counts(result["argument"]) == (1, 0, 0)

    rel, log = read(tree, "RE", "semval-RE", "train")
    cup, dog = (next(r for r in rel if r["text"].startswith(start)) for start in ("the cup", "the dog"))
    assert cup["relations"] == [{"type": "NA", "head": "cup", "tail": "desk"}]  # typed '' in the file
    assert dog["relations"] == [{"type": "NA", "head": "dog", "tail": "ball"}]  # typed NA in the file
    assert cup["labels"].count("NA") == 1 and "" not in cup["labels"]
    assert notes(log) == {ie.NA_KEPT: ("kept", 1), ie.EMPTY_TYPE_AS_NA: ("repaired", 1)}
    assert gold_answer(cup, "re") == " NA: cup, desk"
    assert counts(score("re", [cup], ['{"NA": "cup, desk"}'], scorer="instructuie")) == (1, 0, 0)
    assert counts(score("re", [cup], ["{}"], scorer="instructuie")) == (0, 0, 1)  # None misses the NA pair


@pytest.mark.parametrize("folder", ["EE", "EET", "EEA"])
def test_phee_trailing_spaces_are_stripped(tree: Path, folder: str) -> None:
    recs, log = read(tree, folder, "PHEE", "test")
    assert [r["events"][0]["trigger"] for r in recs] == ["After", "induced", "helped"]
    assert notes(log)[ie.STRIPPED] == ("repaired", 3)


def test_ee_labels_two_strings_take_roles_from_the_eet_copy(tree: Path) -> None:
    ee, log = read(tree, "EE", "ACE05", "test")
    eet, _ = read(tree, "EET", "ACE05", "test")
    assert ee == eet  # same records, same schema {type: [roles]}
    assert ee[0]["labels"] == json.loads((tree / "EET/ACE05/labels.json").read_text())
    assert notes(log) == {"EE labels.json is [event types, roles]: roles per type read from EET/ACE05/labels.json":
                          ("repaired", 1)}
    genia, log = read(tree, "EE", "GENIA", "train")  # no EET/EEA copy: every listed role for every type
    assert genia[0]["labels"] == {"Gene expression": ["Theme", "Site"], "Binding": ["Theme", "Site"]}
    assert next(iter(notes(log).values())) == ("repaired", 1)


def test_sample_folders_read_like_the_plain_ones(tree: Path) -> None:
    plain, _ = read(tree, "NER", "CoNLL 2003", "test")
    sample, _ = read(tree, "NER", "CoNLL 2003_sample_15000", "test")
    assert [r["entities"] for r in sample] == [r["entities"] for r in plain]
    assert len(read(tree, "NER", "CoNLL 2003_sample_15000", "train")[0]) == 3 * len(read(tree, "NER", "CoNLL 2003",
                                                                                          "train")[0])
    assert len(read(tree, "RE", "conll04_sample_5000", "test")[0]) == 3


def test_every_split_reads_strictly_and_every_anomaly_is_noted(tree: Path) -> None:
    """Every split of every folder reads with the defaults; records in = records out + those noted as left out."""
    for path in sorted(tree.glob("*/*/*.json")):
        if path.name == "labels.json":
            continue
        folder, dataset, split = path.parent.parent.name, path.parent.name, path.stem
        recs, log = read(tree, folder, dataset, split)
        left_out = log.to_json()["notes"].get(ie.NOT_IN_TEXT, {}).get("count", 0)
        assert len(recs) == len(json.loads(path.read_text())) - left_out, path
        if (folder, dataset, split) in ANOMALIES:
            assert notes(log), (path, ANOMALIES[(folder, dataset, split)])


def test_label_files_must_have_a_known_shape(tmp_path: Path) -> None:
    (tmp_path / "EE/X").mkdir(parents=True)
    (tmp_path / "EE/X/labels.json").write_text('["a,b"]')
    (tmp_path / "EE/X/test.json").write_text("[]")
    with pytest.raises(RecordError, match="labels.json must be"):
        read(tmp_path, "EE", "X", "test")


# --------------------------------------------------------------------------------------- the real sample


@pytest.fixture(scope="module")
def sample() -> Path:
    """The real IE_INSTRUCTIONS sample (skips where PROUIE_TEST_INPUTS does not provide it)."""
    return upstream_input("ie_instructions_sample")


def _sample_files(sample: Path) -> list[Path]:
    return sorted(sample.glob("*/*/*.json"))


def test_the_real_sample_reads_completely_with_the_defaults(sample: Path) -> None:
    files = _sample_files(sample)
    splits = [p for p in files if p.name != "labels.json"]
    assert len(splits) == 9
    for path in splits:
        folder, dataset, split = path.parent.parent.name, path.parent.name, path.stem
        recs, log = read(sample, folder, dataset, split)
        raw = json.loads(path.read_text(encoding="utf-8"))
        task = TASK_OF[folder]
        assert len(recs) == len(raw), path  # no record of the sample is left out
        units = sum(len(r[UNITS[task]]) + len(r.get("set_aside", {}).get("relations", ())) for r in recs)
        assert units == sum(len(r[UNITS[task]]) for r in raw) - log.dropped.get(ie.UNTYPED, 0), path
        counted = notes(log)
        if task == "ee":
            spaced = sum(ev["trigger"] != ev["trigger"].strip() for r in raw for ev in r["events"])
            assert spaced > 0.9 * len(raw) and counted[ie.STRIPPED] == ("repaired", spaced)
            assert recs[0]["labels"] == json.loads((sample / "EET/PHEE/labels.json").read_text())
        if dataset == "semval-RE":
            na = sum(rel["type"] == "NA" for r in raw for rel in r["relations"])
            assert na > 100 and counted == {ie.NA_KEPT: ("kept", na)}
        if dataset == "CrossNER_music":
            listed = json.loads((path.parent / "labels.json").read_text())
            used = Counter(e["type"] for r in raw for e in r["entities"] if e["type"] not in listed)
            assert set(used) == {"organisation", "misc"}
            assert counted == {ie.added_label("type", t): ("repaired", n) for t, n in used.items()}
            assert recs[0]["labels"][len(listed):] == list(dict.fromkeys(
                e["type"] for r in raw for e in r["entities"] if e["type"] not in listed))
        if (dataset, split) == ("Broad Tweet Corpus", "dev"):  # records 1900-1999: the empty one is 1961
            assert recs[61]["text"] == "" and recs[61]["entities"] == []
            assert counted == {ie.EMPTY_SENTENCE: ("kept", 1)}
        if dataset in ("ncbi", "CrossNER_AI") or (dataset, split) == ("Broad Tweet Corpus", "test"):
            assert counted == {}


def test_every_real_label_file_loads(sample: Path) -> None:
    for path in (p for p in _sample_files(sample) if p.name == "labels.json"):
        folder = path.parent.parent.name
        labels = ie.load_labels(TASK_OF[folder], path, ReadLog())
        assert label_names(labels) and all(isinstance(n, str) and n for n in label_names(labels)), path
        if folder == "EE":  # the list form resolves to the EET copy's {type: [roles]}
            assert labels == json.loads((sample / "EET" / path.parent.name / "labels.json").read_text())


# ----------------------------------------------------------------------------- verbalisations (note section 5)


def _bundled_labels(name: str) -> object:
    return bundled_records(name, "test")[0]["labels"]


@pytest.mark.parametrize(("bundled", "folder"), [("crossner_ai", "NER/CrossNER_AI"), ("crossner_music",
                                                                                      "NER/CrossNER_music"),
                                                 ("ncbi", "NER/ncbi"), ("semeval", "RE/semval-RE"),
                                                 ("phee", "EET/PHEE")])
def test_bundled_labels_are_the_ie_instructions_labels(sample: Path, bundled: str, folder: str) -> None:
    real = json.loads((sample / folder / "labels.json").read_text())
    ours = _bundled_labels(bundled)
    if isinstance(real, dict):
        assert {t: set(r) for t, r in ours.items()} == {t: set(r) for t, r in real.items()}
    elif bundled == "semeval":
        assert ours == real  # the same list, NA included, in the same order
    else:
        assert set(ours) == set(real)
    task = BUNDLED[bundled]["task"]
    assert label_warnings(task, real, {task: {n: [bundled] for n in label_names(ours)}}) == []


def test_old_verbalisations_would_be_flagged() -> None:
    trained = {"ner": {n: ["old"] for n in ("organisation", "programming language", "disease")},
               "ee": {"Treatment.Combination.Drug": ["old"]}}
    assert len(label_warnings("ner", ["organization", "program language", "Disease", "person"], trained)) == 3
    assert label_warnings("ee", {"adverse event": ["Combination.Drug"]}, trained) == [
        "asks for 'Combination.Drug'; the model was trained on 'Treatment.Combination.Drug' (spelling; old)"]


def test_semeval_direction_agrees_with_semval_re(sample: Path) -> None:
    """head = e1, tail = e2 in text order, Other = NA, on every sample sentence the bundled test slice also has."""

    def key(text: str) -> str:
        return "".join(text.lower().split())

    ours = {key(r["text"]): r["relations"][0] for r in bundled_records("semeval", "test")}
    matched = 0
    for row in json.loads((sample / "RE/semval-RE/test.json").read_text()):
        mine = ours.get(key(row["sentence"]))
        if mine is None:
            continue
        matched += 1
        real = row["relations"][0]
        assert (mine["type"], key(mine["head"]), key(mine["tail"])) == (
            real["type"], key(real["head"]["name"]), key(real["tail"]["name"])), row["sentence"]
    assert matched >= 40


# ------------------------------------------------------------------------------ prouie_4b from the real layout


def test_prouie_4b_plans_and_builds_every_stage_from_the_real_layout(tree: Path, tmp_path: Path) -> None:
    small = ["stages.cm_ner.mixture.ner=5", "stages.cm_ner_re.mixture.ner=2", "stages.cm_ner_re.mixture.re=8",
             "stages.cm_all.mixture.ner=3", "stages.cm_all.mixture.re=3", "stages.cm_all.mixture.ee=4",
             "stages.sa.mixture.re=3", "stages.sa.mixture.ee=3", "stages.de_ner.count=4", "stages.de_re.count=4",
             "stages.de_ee.count=4"]
    plan = build_plan(compose_recipe(["+experiment=prouie_4b", f"data.root={tree}", f"pipeline.run_dir={tmp_path}",
                                      *small]))
    built = {}
    for stage in plan.stages:
        assert not stage.missing_sources, stage.missing_sources
        if stage.data is not None:
            built[stage.name] = build_data(stage)
    assert list(built) == ["cm_ner", "cm_ner_re", "cm_all", "sa", "de_ner", "de_re", "de_ee"]
    assert [m["rows"] for m in built.values()] == [5, 10, 10, 6, 4, 4, 4]
    anomalies = {(a["dataset"], a["split"], a["reason"]): a["count"] for a in built["cm_all"]["anomalies"]}
    assert anomalies[("TweetNER7", "train", ie.NOT_IN_TEXT)] == 2
    assert anomalies[("kbp37", "train", ie.EMPTY_SIDE)] == 1
    assert anomalies[("semval-RE", "train", ie.NA_KEPT)] == 1
    assert anomalies[("PHEE", "train", ie.STRIPPED)] == 5
    assert built["cm_all"]["labels"]["re"]["kbp37"] == ["employee of", "NA", "subsidiaries", "city of headquarters"]
    assert built["de_ee"]["labels"]["ee"]["PHEE"]["adverse event"][-1] == "Combination.Drug"
    read = built["cm_ner"]["tasks"]["ner"]["sources"]
    assert {s["spec"]["dataset"]: s["read"]["records"] for s in read}["TweetNER7"] == 4
