"""The real data slices bundled under ``data/`` (see ``data/README.md``), as ready-made reader specs.

Paths are resolved against the repository root found from this file, never the working directory.
SemEval-2010 Task 8 ships only train and test; its ``dev`` split is every 10th record of the training file
(positions 9, 19, ...: 30 of the 300 bundled records) and ``train`` is the other 270, a fixed derivation
that needs no seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converters.readers import read_source

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
SPLITS = ("train", "dev", "test")
SEMEVAL_DEV_EVERY = 10

_CROSSNER_TYPES = {
    "ai": ["algorithm", "conference", "country", "field", "location", "metrics", "misc", "organisation", "person",
           "product", "programlang", "researcher", "task", "university"],
    "literature": ["award", "book", "country", "event", "literarygenre", "location", "magazine", "misc",
                   "organisation", "person", "poem", "writer"],
    "music": ["album", "award", "band", "country", "event", "location", "misc", "musicalartist",
              "musicalinstrument", "musicgenre", "organisation", "person", "song"],
    "politics": ["country", "election", "event", "location", "misc", "organisation", "person", "politicalparty",
                 "politician"],
    "science": ["academicjournal", "astronomicalobject", "award", "chemicalcompound", "chemicalelement", "country",
                "discipline", "enzyme", "event", "location", "misc", "organisation", "person", "protein",
                "scientist", "theory", "university"],
}
_SEMEVAL = "semeval_re/SemEval2010_task8_all_data"

# name -> (task, base spec, split -> (relative file, extra spec keys))
BUNDLED: dict[str, dict[str, Any]] = {
    **{
        f"crossner_{domain}": {
            "task": "ner",
            "spec": {"format": "conll", "labels": types},
            "splits": {s: (f"crossner/ner_data/{domain}/{s}.txt", {}) for s in SPLITS},
        }
        for domain, types in _CROSSNER_TYPES.items()
    },
    "ncbi": {
        "task": "ner",
        "spec": {"format": "conll", "labels": ["Disease"]},
        "splits": {s: (f"ncbi_disease/data/NCBI-disease-IOB/{f}.tsv", {})
                   for s, f in (("train", "train"), ("dev", "devel"), ("test", "test"))},
    },
    "semeval": {
        "task": "re",
        "spec": {"format": "semeval"},
        "splits": {
            "train": (f"{_SEMEVAL}/SemEval2010_task8_training/TRAIN_FILE.TXT",
                      {"holdout_every": SEMEVAL_DEV_EVERY, "holdout": "exclude"}),
            "dev": (f"{_SEMEVAL}/SemEval2010_task8_training/TRAIN_FILE.TXT",
                    {"holdout_every": SEMEVAL_DEV_EVERY, "holdout": "only"}),
            "test": (f"{_SEMEVAL}/SemEval2010_task8_testing_keys/TEST_FILE_FULL.TXT", {}),
        },
    },
    "phee": {
        "task": "ee",
        "spec": {"format": "phee"},
        "splits": {s: (f"phee/data/json/{s}.json", {}) for s in SPLITS},
    },
}


def bundled_spec(name: str, split: str, root: str | Path | None = None) -> dict[str, Any]:
    """The full ``read_source`` spec (absolute path) of one bundled dataset split.

    ``root``: a folder holding the source's original download in the same layout as ``data/`` (the slices keep each
    source's layout byte for byte), so the full training sets are read by the same spec; None reads the slice."""
    if name not in BUNDLED:
        raise ValueError(f"unknown bundled dataset {name!r}; known: {sorted(BUNDLED)}")
    entry = BUNDLED[name]
    if split not in entry["splits"]:
        raise ValueError(f"bundled dataset {name!r} has no split {split!r}; known: {sorted(entry['splits'])}")
    rel, extra = entry["splits"][split]
    path = (Path(root).expanduser() if root is not None else DATA_DIR) / rel
    if root is not None and not path.is_file():
        raise FileNotFoundError(f"bundled dataset {name!r} split {split!r} under root {str(root)!r}: no file {path} "
                                f"(root holds the original download in the layout of data/, data/README.md)")
    return {**entry["spec"], **extra, "path": str(path), "dataset": name, "split": split,
            "task": entry["task"]}


def bundled_records(name: str, split: str) -> list[dict[str, Any]]:
    """All canonical records of one bundled dataset split (small: read eagerly)."""
    return list(read_source(bundled_spec(name, split)))
