"""Upstream inputs of the tests that no package index serves: found through one setting, optional for a
contributor, mandatory in CI.

``PROUIE_TEST_INPUTS`` names a folder laid out as the project's ``shared/`` folder is (CI sets it to the copy beside
the clone)::

    upstream/EasyR1/                  hiyouga/EasyR1 at the commit of its SNAPSHOT file (installs as ``verl``)
    upstream/InstructUIE/             BeyonderXX/InstructUIE (``src/calculate_f1.py``, ``src/evaluation/``, ...)
    data/ie_instructions_sample/      a real IE_INSTRUCTIONS sample (NER, RE, EE, EET, EEA folders)
    paper/prouie-paper.txt            the paper's text (the prompt figures are compared word for word)

A test that needs one of them asks :func:`upstream_input`; where the setting is unset or the input is absent the test is
skipped with the input's name and the setting to set. With ``PROUIE_REQUIRE_TEST_INPUTS=1`` (what ``.ci/run`` sets)
that skip is a failure instead, so CI never silently runs less.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SETTING = "PROUIE_TEST_INPUTS"
REQUIRE = "PROUIE_REQUIRE_TEST_INPUTS"

# name -> (path under the folder, the file whose presence proves the input is complete, what it is)
INPUTS: dict[str, tuple[str, str, str]] = {
    "easyr1": ("upstream/EasyR1", "setup.py", "EasyR1's source (hiyouga/EasyR1)"),
    "instructuie": ("upstream/InstructUIE", "src/calculate_f1.py", "InstructUIE's evaluator (BeyonderXX/InstructUIE)"),
    "ie_instructions_sample": ("data/ie_instructions_sample", "RE/semval-RE/test.json",
                               "the real IE_INSTRUCTIONS sample"),
    "paper": ("paper/prouie-paper.txt", "", "the ProUIE paper's text"),
    "originals": ("data", "ncbi_disease/data/NCBI-disease-IOB/train.tsv",
                  "the bundled datasets' original downloads (recipes/data/originals.yaml)"),
}


def inputs_root() -> Path | None:
    """The folder ``PROUIE_TEST_INPUTS`` names (relative paths are taken from the working directory), or None."""
    value = os.environ.get(SETTING, "").strip()
    return Path(value).resolve() if value else None


def required() -> bool:
    """True where a missing input must fail the test (CI) rather than skip it."""
    return os.environ.get(REQUIRE, "").strip().lower() in {"1", "true", "yes"}


def find_input(name: str) -> tuple[Path | None, str]:
    """(path, "") where the input is there, else (None, why it is not): pure, for the skip/fail decision."""
    relative, proof, what = INPUTS[name]
    root = inputs_root()
    if root is None:
        shown = f"{relative}/" if proof else relative  # a folder, or the file itself
        return None, f"needs {what}: set {SETTING} to a folder with {shown} (README 'Tests')"
    path = root / relative
    probe = path / proof if proof else path
    if not probe.exists():
        return None, f"needs {what}: {probe} does not exist ({SETTING}={root})"
    return path, ""


def upstream_input(name: str) -> Path:
    """The path of upstream input ``name``; skips the calling test where it is absent (fails under REQUIRE)."""
    path, why = find_input(name)
    if path is not None:
        return path
    if required():
        pytest.fail(f"{why}; {REQUIRE} is set, so a missing input is an error", pytrace=False)
    pytest.skip(why)

