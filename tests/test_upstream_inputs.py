"""The one setting through which tests find upstream inputs: skipped with the reason where absent, failed where
required (tests/helpers/inputs.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import inputs
from tests.helpers.inputs import REQUIRE, SETTING, find_input, upstream_input

REPO = Path(__file__).resolve().parents[1]


def _lay_out(root: Path, *names: str) -> None:
    """A folder with the named inputs, each just complete enough for its proof file."""
    for name in names:
        relative, proof, _ = inputs.INPUTS[name]
        target = root / relative / proof if proof else root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("x")


def test_without_the_setting_every_input_is_absent_and_the_reason_names_the_setting(monkeypatch):
    monkeypatch.delenv(SETTING, raising=False)
    for name in inputs.INPUTS:
        path, why = find_input(name)
        relative, proof, _ = inputs.INPUTS[name]
        assert path is None and f"set {SETTING} to a folder with {relative}{'/' if proof else ''} (" in why


def test_an_input_is_found_only_when_its_proof_file_is_there(monkeypatch, tmp_path):
    monkeypatch.setenv(SETTING, str(tmp_path))
    (tmp_path / "upstream" / "InstructUIE" / "src").mkdir(parents=True)  # the folder, not the evaluator
    _lay_out(tmp_path, "paper", "easyr1")
    assert find_input("paper") == (tmp_path / "paper" / "prouie-paper.txt", "")
    assert find_input("easyr1") == (tmp_path / "upstream" / "EasyR1", "")
    path, why = find_input("instructuie")
    assert path is None and str(tmp_path / "upstream/InstructUIE/src/calculate_f1.py") in why
    assert find_input("ie_instructions_sample")[0] is None


def _outcome(name: str) -> tuple[str, str]:
    """What upstream_input(name) does to its caller: ("skip" | "fail", message) or ("found", path)."""
    try:
        return "found", str(upstream_input(name))
    except pytest.skip.Exception as e:
        return "skip", str(e)
    except pytest.fail.Exception as e:
        return "fail", str(e)


def test_a_missing_input_skips_and_under_the_requirement_fails(monkeypatch, tmp_path):
    monkeypatch.setenv(SETTING, str(tmp_path))
    monkeypatch.delenv(REQUIRE, raising=False)
    kind, message = _outcome("instructuie")
    assert kind == "skip" and "needs InstructUIE's evaluator" in message
    monkeypatch.setenv(REQUIRE, "1")
    kind, message = _outcome("instructuie")
    assert kind == "fail" and f"{REQUIRE} is set, so a missing input is an error" in message
    _lay_out(tmp_path, "instructuie")
    assert _outcome("instructuie") == ("found", str(tmp_path / "upstream" / "InstructUIE"))


def test_pytest_reports_the_skip_with_its_reason_and_ci_mode_turns_it_into_a_failure(tmp_path):
    """End to end, as `make test` and `.ci/run` see it: a test asking for an absent input."""
    test_file = tmp_path / "test_needs_paper.py"
    test_file.write_text("from tests.helpers.inputs import upstream_input\n\n\n"
                         "def test_paper():\n    assert upstream_input('paper').is_file()\n")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", SETTING: str(tmp_path / "inputs")}
    argv = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", str(test_file)]
    skipped = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout
    assert f"needs the ProUIE paper's text: {tmp_path / 'inputs' / 'paper' / 'prouie-paper.txt'}" in skipped.stdout
    failed = subprocess.run(argv, cwd=tmp_path, env={**env, REQUIRE: "1"}, capture_output=True, text=True,
                            timeout=120)
    assert failed.returncode == 1 and "1 failed" in failed.stdout
    _lay_out(tmp_path / "inputs", "paper")
    passed = subprocess.run(argv, cwd=tmp_path, env={**env, REQUIRE: "1"}, capture_output=True, text=True,
                            timeout=120)
    assert passed.returncode == 0 and "1 passed" in passed.stdout
