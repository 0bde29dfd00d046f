"""The run folder: input stamps, fingerprints, markers (atomic; torn ones ignored) and leftover stage processes.

The selection (``leftover_groups``) is checked before anything is killed, so that a broken selection (a bug, or a
mutant of the mutation-testing command) fails the test instead of killing unrelated processes on the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from launch import run_dir
from launch.run_dir import (
    DONE,
    STARTED,
    atomic_write_json,
    done_fingerprint,
    files_stamp,
    fingerprint,
    leftover_groups,
    mark_started,
    names_path,
    output_sha256,
    read_json,
    reset_stage_dir,
    started_fingerprint,
    stop_leftover_processes,
    write_done,
)

# ------------------------------------------------------------------------------------------- input stamps


def _tree(root: Path) -> dict[str, Path]:
    files = {"a.json": "{}", "sub/b.jsonl": "1\n2\n", "sub/deeper/c.txt": "abc"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return {name: root / name for name in files}


def test_files_stamp_lists_every_file_under_a_folder_by_its_relative_name_size_and_sha256(tmp_path):
    files = _tree(tmp_path / "data")
    single = tmp_path / "model.safetensors"
    single.write_bytes(b"12345")
    want = [[name, p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()] for name, p in sorted(files.items())]
    assert files_stamp([tmp_path / "data", single]) == [*want, ["model.safetensors", 5,
                                                                hashlib.sha256(b"12345").hexdigest()]]
    assert files_stamp([tmp_path / "absent", tmp_path / "data" / "absent.json"]) == []


def test_files_stamp_follows_content_not_modification_time_or_location(tmp_path):
    files = _tree(tmp_path / "a")
    before = files_stamp([tmp_path / "a"])
    os.utime(files["sub/b.jsonl"], ns=(1, files["sub/b.jsonl"].stat().st_mtime_ns + 1_000_000))  # touched only
    assert files_stamp([tmp_path / "a"]) == before
    shutil.copytree(tmp_path / "a", tmp_path / "copy")  # a fresh clone or a model converted again elsewhere
    assert files_stamp([tmp_path / "copy"]) == before
    files["a.json"].write_text("[]")  # same size, other bytes
    changed = files_stamp([tmp_path / "a"])
    assert changed != before and [row[1] for row in changed] == [row[1] for row in before]
    (tmp_path / "a" / "sub" / "new.txt").write_text("")
    assert len(files_stamp([tmp_path / "a"])) == len(before) + 1


# ------------------------------------------------------------------------------------------ fingerprints


def test_fingerprint_is_the_sha256_of_the_parts_and_ignores_key_order_and_where_the_run_is(tmp_path):
    parts = {"config": {"lr": 1e-4, "out": str(tmp_path / "run é" / "cm_ner")}, "data": [1, "ü"],
             "model": tmp_path / "m"}
    digest = fingerprint(parts, tmp_path / "run é")
    moved = {"model": tmp_path / "m", "data": [1, "ü"],
             "config": {"out": str(tmp_path / "elsewhere" / "cm_ner"), "lr": 1e-4}}
    assert fingerprint(moved, tmp_path / "elsewhere") == digest  # a non-ASCII run folder is abstracted too
    assert fingerprint(moved, tmp_path / "other") != digest
    assert fingerprint({**parts, "data": [1, "u"]}, tmp_path / "run é") != digest
    assert fingerprint(parts) != digest  # without a run folder nothing is abstracted
    assert fingerprint({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()


def test_the_stage_folder_is_abstracted_too_by_whole_path_components(tmp_path):
    run, other = tmp_path / "run", tmp_path / "other"
    same_work = fingerprint({"out": str(run / "eval" / "o"), "m": str(run / "sa" / "output")}, run, run / "eval")
    assert fingerprint({"m": str(other / "sa" / "output"), "out": str(other / "eval_sa" / "o")}, other,
                       other / "eval_sa") == same_work  # another run folder, another stage name
    assert fingerprint({"out": str(run / "eval_sa" / "o"), "m": str(run / "sa" / "output")}, run,
                       run / "eval") != same_work  # <run>/eval_sa is not <stage>_sa
    assert fingerprint({"p": str(run / "eval")}, run, run / "eval") == fingerprint({"p": str(other / "e")}, other,
                                                                                   other / "e")
    assert fingerprint({"p": str(run / "evalX")}, run, run / "eval") == fingerprint({"p": str(other / "evalX")},
                                                                                   other, other / "eval")
    assert fingerprint({"p": str(run / "evalX")}, run, run / "eval") != fingerprint({"p": str(other / "e")}, other,
                                                                                   other / "e")


def test_output_sha256_covers_every_file_s_path_and_bytes(tmp_path):
    import hashlib

    out = tmp_path / "out"
    assert output_sha256(out) == hashlib.sha256().hexdigest()  # nothing there yet
    (out / "sub").mkdir(parents=True)
    (out / "model.safetensors").write_bytes(b"w" * 3_000_000)  # read in chunks
    (out / "sub" / "config.json").write_text("{}")
    want = hashlib.sha256(b"model.safetensors\0" + b"w" * 3_000_000 + b"sub/config.json\0{}").hexdigest()
    assert output_sha256(out) == want
    (out / "sub" / "config.json").write_text("{ }")
    assert output_sha256(out) != want
    (out / "sub" / "config.json").rename(out / "sub" / "other.json")
    assert output_sha256(out) != want


def test_a_stage_folder_linked_to_another_run_is_unlinked_not_emptied(tmp_path):
    source = tmp_path / "full" / "cm_all"
    (source / "output").mkdir(parents=True)
    (source / "output" / "model.safetensors").write_text("w")
    link = tmp_path / "ablation" / "cm_all"
    link.parent.mkdir()
    link.symlink_to(source)
    reset_stage_dir(link)
    assert link.is_dir() and not link.is_symlink() and not any(link.iterdir())
    assert (source / "output" / "model.safetensors").read_text() == "w"


# ----------------------------------------------------------------------------------------------- markers


def test_markers_round_trip_with_their_fingerprint_pid_and_time(tmp_path):
    stage = tmp_path / "run" / "cm_ner"  # created by the first marker
    assert done_fingerprint(stage) is None and started_fingerprint(stage) is None
    t0 = time.time()
    mark_started(stage, "fp-1")
    write_done(stage, "fp-2", {"final_loss": 0.5})
    started, done = read_json(stage / STARTED), read_json(stage / DONE)
    assert started["fingerprint"] == "fp-1" and started["pid"] == os.getpid()
    assert done["fingerprint"] == "fp-2" and done["results"] == {"final_loss": 0.5}
    assert t0 <= started["started"] <= done["finished"] <= time.time()
    assert started_fingerprint(stage) == "fp-1" and done_fingerprint(stage) == "fp-2"
    assert sorted(p.name for p in stage.iterdir()) == [DONE, STARTED]  # no temp file left behind


@pytest.mark.parametrize("content", [b'{"fingerp', b"", b"[1, 2]", b'"fp"', b"null", b"3", b'["fingerprint"]',
                                     b"\xff\xfe"])
def test_a_torn_or_non_object_marker_counts_as_absent(tmp_path, content):
    (tmp_path / DONE).write_bytes(content)
    (tmp_path / STARTED).write_bytes(content)
    assert read_json(tmp_path / DONE) is None
    assert done_fingerprint(tmp_path) is None and started_fingerprint(tmp_path) is None


def test_a_marker_without_a_fingerprint_matches_nothing(tmp_path):
    (tmp_path / DONE).write_text('{"results": {}}')
    assert read_json(tmp_path / DONE) == {"results": {}} and done_fingerprint(tmp_path) is None


def test_a_marker_is_replaced_atomically_after_its_content_is_on_disk(tmp_path, monkeypatch):
    """Readers see the old marker or the new one, whole: the new content goes to a temp file in the same folder,
    is synced, then renamed over the marker."""
    path = tmp_path / DONE
    atomic_write_json(path, {"fingerprint": "old"})
    events, temp_names = [], []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", json.loads(Path(f"/proc/self/fd/{fd}").read_text(encoding="utf-8"))))
        real_fsync(fd)

    def replace(src, dst):
        temp_names.append(Path(src).name)
        events.append(("replace", Path(src).parent, json.loads(Path(src).read_text(encoding="utf-8")),
                       read_json(Path(dst))))
        real_replace(src, dst)

    monkeypatch.setattr(run_dir.os, "fsync", fsync)
    monkeypatch.setattr(run_dir.os, "replace", replace)
    atomic_write_json(path, {"results": {"ü": 1, "path": Path("/x")}, "fingerprint": "new"})
    want = {"fingerprint": "new", "results": {"path": "/x", "ü": 1}}
    assert events == [("fsync", want), ("replace", tmp_path, want, {"fingerprint": "old"})]
    assert temp_names[0].startswith(f".{DONE}.")  # hidden, and says which marker it becomes
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "ü" in text  # one line per key, keys sorted, text as is (diffable markers)
    assert json.loads(text, object_pairs_hook=list) == [("fingerprint", "new"), ("results", [("path", "/x"), ("ü", 1)])]
    assert [p.name for p in tmp_path.iterdir()] == [DONE]


def test_markers_hold_any_text_whatever_the_locale(tmp_path):
    """Non-ASCII text in markers (a model path with accents), written and read on a server whose locale is plain
    C (ASCII) and on this one."""
    write_done(tmp_path, "fp-é", {"model": "/m/rün"})
    code = ("import sys; from pathlib import Path; from launch.run_dir import read_json, write_done; "
            "stage = Path(sys.argv[1]); marker = read_json(stage / 'DONE'); "
            "write_done(stage, marker['fingerprint'] + '-2', {'model': marker['results']['model'] + '-2'})")
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    got = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    marker = read_json(tmp_path / DONE)
    assert marker["fingerprint"] == "fp-é-2" and marker["results"] == {"model": "/m/rün-2"}


def test_a_failed_marker_write_keeps_the_old_marker_and_leaves_no_temp_file(tmp_path):
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot render")

    write_done(tmp_path, "fp", {})
    with pytest.raises(RuntimeError, match="cannot render"):
        write_done(tmp_path, "fp-2", {"x": Unprintable()})
    assert done_fingerprint(tmp_path) == "fp"
    assert [p.name for p in tmp_path.iterdir()] == [DONE]


def test_reset_stage_dir_empties_a_folder_or_creates_it(tmp_path):
    stage = tmp_path / "run" / "cm_ner"
    reset_stage_dir(stage)
    assert stage.is_dir() and not any(stage.iterdir())
    (stage / "output" / "checkpoint-4").mkdir(parents=True)
    write_done(stage, "fp", {})
    reset_stage_dir(stage)
    assert stage.is_dir() and not any(stage.iterdir())


# ------------------------------------------------------------------------------------ leftover processes

REPO = Path(__file__).resolve().parents[2]
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


def test_a_process_that_vanishes_during_the_scan_is_skipped_and_the_scan_goes_on(tmp_path, monkeypatch):
    stage = tmp_path / "run" / "cm_ner"
    stage.mkdir(parents=True)
    vanishing = _stage_process(stage / "config.yaml")  # started first: /proc lists it before the stage process
    proc = _stage_process(stage / "config.yaml")
    real_getpgid = os.getpgid

    def getpgid(pid):
        if pid == vanishing.pid:  # exits while the scan looks at it
            raise ProcessLookupError(pid)
        return real_getpgid(pid)

    try:
        time.sleep(0.5)
        monkeypatch.setattr(run_dir.os, "getpgid", getpgid)
        assert leftover_groups(stage) == [proc.pid]
    finally:
        for p in (vanishing, proc):
            p.kill()
            p.wait()


def test_the_callers_own_group_is_never_included(tmp_path):
    """A process whose group leader runs this stage (it names the stage folder) never lists its own group; any
    other process does."""
    stage = tmp_path / "run" / "cm_ner"
    stage.mkdir(parents=True)
    member = "import sys; from launch.run_dir import leftover_groups; print(leftover_groups(sys.argv[1]))"
    leader = (f"import subprocess, sys, time; print(subprocess.run([sys.executable, '-c', {member!r}, sys.argv[1]], "
              "capture_output=True, text=True).stdout, end='', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", leader, str(stage)], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "[]"
        assert leftover_groups(stage) == [proc.pid]
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
    (b"/x/r/cm_ner:/r/cm_ner/a", True),       # a later occurrence counts
    (b"/r/cm_ner_re:/r/cm_ner", True),
    (b"/r/cm_ner_re,/r/cm_ner", False),        # only '=' and ':' start a value
    (b"/r/cm_ner/a:/x/r/cm_ner", True),       # the first occurrence counts
    (b"x/r/cm_ner:/r/cm_ner/a:x/r/cm_ner", True),  # and one in the middle
    (b"", False),
])
def test_names_path_matches_whole_path_components(arg, named):
    assert names_path(arg, b"/r/cm_ner") is named
