"""The run folder's markers and housekeeping: leftover stage processes.

The selection (``leftover_groups``) is checked before anything is killed, so that a broken selection (a bug, or a
mutant of the mutation-testing command) fails the test instead of killing unrelated processes on the machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from launch.run_dir import leftover_groups, names_path, stop_leftover_processes

SLEEPER = "import time, sys; time.sleep(600)"


def _stage_process(config: Path) -> subprocess.Popen:
    """A stand-in for a stage's backend: its own process group, its config path on the command line."""
    return subprocess.Popen([sys.executable, "-c", SLEEPER, str(config)], start_new_session=True)


@pytest.fixture
def two_live_stages(tmp_path):
    run = tmp_path / "run"
    procs = {}
    for stage in ("cm_ner", "cm_ner_re"):
        (run / stage).mkdir(parents=True)
        procs[stage] = _stage_process(run / stage / "config.yaml")
    time.sleep(0.5)  # both have exec'd: their command lines name their stage folders
    yield run, procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_rerunning_a_stage_stops_its_own_leftovers_and_not_a_stage_whose_name_extends_it(two_live_stages):
    run, procs = two_live_stages
    assert leftover_groups(run / "cm_ner") == [procs["cm_ner"].pid]  # checked before anything is killed
    assert stop_leftover_processes(run / "cm_ner") == [procs["cm_ner"].pid]
    assert procs["cm_ner"].wait(timeout=10) < 0
    assert procs["cm_ner_re"].poll() is None and psutil.pid_exists(procs["cm_ner_re"].pid)
    assert leftover_groups(run / "cm_ner_re") == [procs["cm_ner_re"].pid]
    assert stop_leftover_processes(run / "cm_ner_re") == [procs["cm_ner_re"].pid]
    assert procs["cm_ner_re"].wait(timeout=10) < 0


def test_a_process_of_another_run_folder_is_never_touched(tmp_path):
    other = tmp_path / "run_b" / "cm_ner"
    other.mkdir(parents=True)
    proc = _stage_process(other / "config.yaml")
    try:
        time.sleep(0.5)
        assert leftover_groups(tmp_path / "run" / "cm_ner") == []
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("arg, named", [
    (b"/r/cm_ner", True),
    (b"/r/cm_ner/config.yaml", True),
    (b"config=/r/cm_ner/config.yaml", True),   # EasyR1's `config=<file>`
    (b"--output_dir=/r/cm_ner/output", True),
    (b"/r/cm_ner_re/config.yaml", False),
    (b"/r/cm_nerd", False),
    (b"/x/r/cm_ner/config.yaml", False),       # another run folder that ends the same way
    (b"", False),
])
def test_names_path_matches_whole_path_components(arg, named):
    assert names_path(arg, b"/r/cm_ner") is named
