"""A small synthetic IE_INSTRUCTIONS tree in the real layout, with every anomaly of the real files.

``write_ie_tree(root)`` writes ``<root>/<TASK>/<dataset>/{train,dev,test}.json`` + ``labels.json`` for every
dataset folder the data recipe (``recipes/data/ie_instructions.yaml``) and the benchmark catalogue name, plus
the ``EET/`` and ``EEA/`` copies of the EE data, ``EE/GENIA`` (EE only), ``<name>_sample_<N>`` folders and the
zero-shot ``RE/wiki_2``. Record shapes, labels.json shapes and the anomalies copy what
``../shared/notes/ie-instructions-real.md`` reports of the real files (section 4); ``ANOMALIES`` says where each
one sits, so tests can check every policy of ``converters.readers.ie_instructions`` on it. Texts are invented.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SPLITS = ("train", "dev", "test")

# where each anomaly of the real files is reproduced: (task folder, dataset, split) -> what
ANOMALIES = {
    ("NER", "TweetNER7", "train"): "2 records with a mention that is not a substring of the sentence",
    ("NER", "TweetNER7", "dev"): "1 record with a mention that is not a substring of the sentence",
    ("NER", "Broad Tweet Corpus", "dev"): "1 empty sentence",
    ("NER", "CrossNER_music", "test"): "gold types 'organisation' (2) and 'misc' (1) missing from labels.json",
    ("NER", "CrossNER_music", "dev"): "gold type 'organisation' (1) missing from labels.json",
    ("NER", "ACE 2005", "train"): "1 entity typed NA and 1 typed '' (in one record)",
    ("RE", "kbp37", "train"): "1 relation with an empty tail, 1 NA relation",
    ("RE", "kbp37", "dev"): "1 relation with an empty tail, 1 NA relation",
    ("RE", "kbp37", "test"): "1 relation with an empty tail (its only relation), 1 NA relation",
    ("RE", "semval-RE", "test"): "2 NA-only sentences (NA is a label)",
    ("RE", "semval-RE", "train"): "1 NA-only sentence, 1 relation typed ''",
    ("RE", "wiki_2", "test"): "1 relation with an empty head",
    ("EE", "PHEE", "test"): "3 triggers with a trailing space; EE labels.json is [types, roles]",
    ("EE", "ACE05", "test"): "a trigger with an apostrophe (written #$%# by InstructUIE)",
    ("EE", "ACE05", "train"): "1 event typed NA and 1 typed '' (in one record, beside a real event)",
    ("EE", "CASIE", "test"): "one sentence repeated once per event; arguments with ’ next to a space and with ';'",
    ("EE", "GENIA", "train"): "EE only: labels.json [types, roles] with no EET/EEA copy",
}

NER_LABELS = ["person", "location", "organization"]
NER_ROWS = [
    ("Ann Lee visited Paris .", [("Ann Lee", "person"), ("Paris", "location")]),
    ("Acme hired Bob in the location of Oslo .", [("Acme", "organization"), ("Bob", "person"), ("Oslo", "location")]),
    ("Nothing to see here .", []),
    ("Bob met Ann Lee and Bob again .", [("Bob", "person"), ("Ann Lee", "person"), ("Bob", "person")]),
]
RE_ROWS = [  # (sentence, [(head, type slot index, tail)])
    ("Ann works for Acme in Oslo .", [("Ann", 0, "Acme")]),
    ("Bob , of Acme , lives in Oslo .", [("Bob", 0, "Acme"), ("Bob", 1, "Oslo")]),
    ("The firm O'Neil & Co , based in Rome , grew .", [("O'Neil & Co", 0, "Rome")]),
]
EE_LABELS = {
    "ACE05": {"attack": ["attacker", "target", "place"], "die": ["victim", "place"],
              "transfer ownership": ["buyer", "seller", "artifact"]},
    "CASIE": {"data breach": ["victim", "compromised data", "attacker"],
              "discover vulnerability": ["vulnerable system", "discoverer", "vulnerability"]},
    "PHEE": {"adverse event": ["Subject", "Treatment", "Treatment.Drug", "Effect", "Combination.Drug"],
             "potential therapeutic event": ["Subject", "Treatment", "Treatment.Drug", "Effect"]},
    "GENIA": {"Gene expression": ["Theme"], "Binding": ["Theme", "Site"]},
}
EE_ROWS = {  # dataset -> [(sentence, [(type, trigger, [(argument, role)])])]; test rows hold one event each
    "ACE05": [
        ("The soldier fired at the crowd in Gaza .", [("attack", "fired", [("soldier", "attacker"),
                                                                          ("crowd", "target"), ("Gaza", "place")])]),
        ("Rebels didn 't kill the mayor .", [("die", "didn 't kill", [("mayor", "victim")])]),
        ("Acme 's owner sold the plant .", [("transfer ownership", "sold", [("Acme 's owner", "seller"),
                                                                            ("plant", "artifact")])]),
    ],
    "CASIE": [
        ("Hackers stole the software ’s data ; researchers found a flaw .",
         [("data breach", "stole", [("Hackers", "attacker"), ("the software ’s data", "compromised data")])]),
        ("Hackers stole the software ’s data ; researchers found a flaw .",
         [("discover vulnerability", "found", [("researchers", "discoverer"), ("a flaw", "vulnerability")])]),
        ("The company 's servers ; logs were breached .", [("data breach", "breached", [(
            "The company 's servers ; logs", "victim")])]),
    ],
    "PHEE": [
        ("After aspirin the patient bled .", [("adverse event", "After ", [("aspirin", "Treatment.Drug"),
                                                                          ("the patient", "Subject"),
                                                                          ("bled", "Effect")])]),
        ("Insulin with metformin induced rash .", [("adverse event", "induced ", [("Insulin", "Treatment"),
                                                                                 ("metformin", "Combination.Drug"),
                                                                                 ("rash", "Effect")])]),
        ("Statins helped the elderly .", [("potential therapeutic event", "helped ", [("Statins", "Treatment")])]),
    ],
    "GENIA": [
        ("IL-2 expression requires binding of NF-kB .", [("Gene expression", "expression", [("IL-2", "Theme")]),
                                                         ("Binding", "binding", [("NF-kB", "Theme")])]),
    ],
}


def _recipe_folders() -> dict[str, list[str]]:
    """Dataset folders per task folder named by the data recipe and the benchmark catalogue."""
    recipe = yaml.safe_load((REPO / "recipes/data/ie_instructions.yaml").read_text(encoding="utf-8"))
    catalog = yaml.safe_load((REPO / "recipes/benchmark/catalog.yaml").read_text(encoding="utf-8"))
    folders: dict[str, list[str]] = {"NER": [], "RE": [], "EE": []}
    for task, group in recipe["sources"].items():
        folders[task.upper()] += group["datasets"]
    folders["NER"] += recipe["ood_ner"]
    for entry in catalog["datasets"].values():
        if "folder" in entry:
            folders[entry["task"].upper()].append(entry["folder"])
    return {k: list(dict.fromkeys(v)) for k, v in folders.items()}


def _ner(sentence: str, entities: list[tuple[str, str]]) -> dict[str, Any]:
    return {"sentence": sentence, "entities": [{"name": n, "type": t, "pos": [sentence.find(n), sentence.find(n)
                                                                              + len(n)]} for n, t in entities]}


def _re(sentence: str, relations: list[tuple[str, str, str]]) -> dict[str, Any]:
    def side(name: str) -> dict[str, Any]:
        return {"name": name, "type": "NA", "pos": [sentence.find(name), sentence.find(name) + len(name)]}

    return {"sentence": sentence, "relations": [{"head": side(h), "type": r, "tail": side(t)}
                                                for h, r, t in relations]}


def _ee(sentence: str, events: list[tuple[str, str, list[tuple[str, str]]]]) -> dict[str, Any]:
    return {"sentence": sentence, "events": [
        {"trigger": trig, "type": t, "pos": [], "arguments": [{"name": a, "role": r, "pos": []} for a, r in args]}
        for t, trig, args in events]}


def _write(folder: Path, labels: Any, splits: dict[str, list[dict[str, Any]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.json").write_text(json.dumps(labels, indent=4), encoding="utf-8")
    for split, rows in splits.items():
        (folder / f"{split}.json").write_text(json.dumps(rows, indent=4, ensure_ascii=False), encoding="utf-8")


def _ner_splits(name: str) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    labels = {"CoNLL 2003": ["location", "else", "organization", "person"], "ncbi": ["Disease"],
              "CrossNER_music": ["location", "person", "musical artist", "else", "organization", "band"]}.get(
        name, NER_LABELS)
    if labels == ["Disease"]:
        rows = [_ner("BRCA1 mutations cause breast cancer .", [("breast cancer", "Disease")]),
                _ner("No disease was found .", []),
                _ner("Ataxia - telangiectasia and cancer recur .", [("Ataxia - telangiectasia", "Disease"),
                                                                     ("cancer", "Disease")])]
    else:
        rows = [_ner(s, [(n, t if t in labels else labels[0]) for n, t in ents]) for s, ents in NER_ROWS]
    splits = {s: [dict(r) for r in rows] for s in SPLITS}
    if name == "TweetNER7":
        splits["train"] += [_ner("@SJOsborne is here .", [("._ SJOsborne _", "person")]),
                            _ner("Go @DJKHALED go .", [("+DJKHALED", "person")])]
        splits["dev"].append(_ner("Go @DJKHALED go .", [("+DJKHALED", "person")]))
    elif name == "Broad Tweet Corpus":
        splits["dev"].append({"sentence": "", "entities": []})
    elif name == "CrossNER_music":
        splits["test"] += [_ner("Sony signed Prince and Sony Music .", [("Sony", "organisation"), ("Prince",
                                                                                                   "musical artist"),
                                                                       ("Sony Music", "organisation")]),
                           _ner("The gala had jazz .", [("gala", "misc")])]
        splits["dev"].append(_ner("EMI signed Blur .", [("EMI", "organisation"), ("Blur", "band")]))
    elif name == "ACE 2005":
        splits["train"].append(_ner("Ann runs fast .", [("Ann", "person"), ("runs", "NA"), ("fast", "")]))
    return labels, splits


def _re_splits(name: str, labels: list[str]) -> dict[str, list[dict[str, Any]]]:
    plain = [label for label in labels if label != "NA"]
    rows = [_re(s, [(h, plain[i % len(plain)], t) for h, i, t in rels]) for s, rels in RE_ROWS]
    splits = {s: [json.loads(json.dumps(r)) for r in rows] for s in SPLITS}
    if name == "kbp37":
        for split in SPLITS:
            splits[split].append(_re("Ann met Bob .", [("Ann", "NA", "Bob")]))
        for split in ("train", "dev"):
            splits[split].append(_re("TK owns Acme .", [("TK", "subsidiaries", "Acme"), ("TK", "subsidiaries", "")]))
        splits["test"].append(_re("TK and more .", [("TK", "subsidiaries", "")]))
    elif name == "semval-RE":
        splits["test"] += [_re("the cat sat on the mat .", [("cat", "NA", "mat")]),
                           _re("a bird in a tree .", [("bird", "NA", "tree")])]
        splits["train"] += [_re("the dog saw a ball .", [("dog", "NA", "ball")]),
                            _re("the cup on the desk .", [("cup", "", "desk")])]
    elif name == "wiki_2":
        splits["test"].append(_re("Rome is old .", [("", "located in", "Rome")]))
    return splits


def _re_labels(name: str) -> list[str]:
    return {"kbp37": ["employee of", "NA", "subsidiaries", "city of headquarters"],
            "semval-RE": ["component whole", "NA", "entity origin"],
            "conll04": ["Organization based in", "Located in", "Live in", "Work for", "Kill"],
            "wiki_2": ["located in", "part of"]}.get(name, ["work for", "live in"])


def _ee_splits(name: str) -> dict[str, list[dict[str, Any]]]:
    rows = [_ee(s, evs) for s, evs in EE_ROWS[name]]
    train = rows + [_ee(EE_ROWS[name][0][0], EE_ROWS[name][0][1] * 2)] if name != "GENIA" else rows
    if name == "ACE05":  # events typed NA and '' beside a real one
        train = [*train, _ee("Rebels didn 't kill the mayor .", [("die", "didn 't kill", [("mayor", "victim")]),
                                                                 ("NA", "kill", []), ("", "mayor", [])])]
    return {"train": train, "dev": rows[:2], "test": rows if name != "GENIA" else []}


def write_ie_tree(root: Path) -> Path:
    """Write the tree under ``root`` and return ``root``."""
    root = Path(root)
    folders = _recipe_folders()
    for name in [*folders["NER"], "CoNLL 2003_sample_15000"]:
        labels, splits = _ner_splits(name.removesuffix("_sample_15000"))
        if name.endswith("_sample_15000"):  # over-sampled train, the same test
            splits["train"] = splits["train"] * 3
        _write(root / "NER" / name, labels, splits)
    for name in [*folders["RE"], "conll04_sample_5000", "wiki_2"]:
        base = name.removesuffix("_sample_5000")
        _write(root / "RE" / name, _re_labels(base), _re_splits(base, _re_labels(base)))
    for name in [*folders["EE"], "GENIA"]:
        labels = EE_LABELS[name]
        splits = _ee_splits(name)
        roles = list(dict.fromkeys(r for rs in labels.values() for r in rs))
        sep = "," if name == "PHEE" else ", "  # the real files use both
        _write(root / "EE" / name, [sep.join(labels), sep.join(roles)], splits)
        if name != "GENIA":
            for folder in ("EET", "EEA"):
                _write(root / folder / name, labels, splits)
    return root
