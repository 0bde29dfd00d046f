"""Label check: which manifests a report reads, and which label pairs it flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.label_check import alike, label_warnings, manifest_paths, run_manifests, trained_labels


def _manifest(folder: Path, labels: dict) -> Path:
    folder.mkdir(parents=True)
    path = folder / "manifest.json"
    path.write_text(json.dumps({"labels": labels}))
    return path


def test_manifests_of_a_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cm = _manifest(run / "cm_ner" / "data", {"ner": {"ncbi": ["Disease"]}})
    de = _manifest(run / "de_ee" / "data", {"ee": {"PHEE": {"adverse event": ["Combination.Drug"]}}})
    assert run_manifests(run / "de_ee" / "output") == [cm, de]  # the pipeline's eval: the model's run folder
    assert manifest_paths([run]) == [cm, de] == manifest_paths([cm, run / "de_ee" / "data"])
    assert run_manifests(tmp_path / "elsewhere" / "model") == []
    with pytest.raises(FileNotFoundError, match="neither a manifest"):
        manifest_paths([tmp_path / "missing"])
    assert trained_labels([cm, de]) == {"ner": {"Disease": ["ncbi"]},
                                        "ee": {"adverse event": ["PHEE"], "Combination.Drug": ["PHEE"]}}


@pytest.mark.parametrize(("a", "b", "why"), [
    ("organisation", "organization", "spelling"), ("Disease", "disease", "case"),
    ("programming language", "program language", "spelling"),
    ("Treatment.Combination.Drug", "Combination.Drug", "spelling"),
    ("misc", "else", None), ("program language", "language", None), ("person", "person", None),
])
def test_alike(a: str, b: str, why: str | None) -> None:
    assert alike(a, b) == why == alike(b, a)


def test_only_labels_missing_from_training_are_flagged() -> None:
    trained = {"ner": {"organization": ["conll"], "organisation": ["crossner"], "person": ["conll"]}}
    assert label_warnings("ner", ["organization", "person", "Person", "song"], trained) == [
        "asks for 'Person'; the model was trained on 'person' (case; conll)"]
    assert label_warnings("re", ["Person"], trained) == []  # other task: nothing to compare with
