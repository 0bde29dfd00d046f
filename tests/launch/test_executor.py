"""LocalExecutor: streams output to the log and the progress callback, returns exit codes, dies with the driver."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from launch.executors.local import LocalExecutor, make_executor
from launch.stage import StageFailed, StageJob

REPO = Path(__file__).resolve().parents[2]


def job(tmp_path: Path, code: str, **kw) -> StageJob:
    return StageJob(stage="s", argv=[sys.executable, "-c", code], env={"PROUIE_X": "42"}, cwd=str(tmp_path),
                    log_path=str(tmp_path / "s" / "stage.log"), **kw)


def test_streams_lines_and_carriage_return_progress(tmp_path):
    lines: list[str] = []
    code = "import os,sys; print('a'); sys.stdout.write('10%\\r20%\\r'); print(os.environ['PROUIE_X'])"
    assert LocalExecutor().run(job(tmp_path, code), on_line=lines.append) == 0
    assert lines == ["a", "10%", "20%", "42"]
    log = (tmp_path / "s" / "stage.log").read_bytes()
    assert log.startswith(b"$ ") and b"10%\r20%\r42\n" in log


def test_returns_the_exit_code_and_appends_to_the_log(tmp_path):
    executor = LocalExecutor()
    assert executor.run(job(tmp_path, "print('first')")) == 0
    assert executor.run(job(tmp_path, "import sys; print('boom'); sys.exit(3)")) == 3
    log = (tmp_path / "s" / "stage.log").read_text()
    assert log.index("first") < log.index("boom")


def test_missing_command_is_a_stage_failure_with_a_hint(tmp_path):
    bad = StageJob(stage="s", argv=["no-such-prouie-command"], env={}, cwd=str(tmp_path),
                   log_path=str(tmp_path / "log"))
    with pytest.raises(StageFailed, match="not found.*virtualenv's bin on PATH"):
        LocalExecutor().run(bad)


def test_several_nodes_need_a_cluster_profile(tmp_path):
    with pytest.raises(StageFailed, match="cluster=ray"):
        LocalExecutor().run(job(tmp_path, "pass", nnodes=2))


def test_unknown_cluster_kind():
    with pytest.raises(ValueError, match="unknown cluster kind 'slurm'"):
        make_executor({"kind": "slurm"})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl PDEATHSIG is Linux-only")
def test_the_stage_process_dies_with_a_killed_driver(tmp_path):
    pid_file = tmp_path / "child.pid"
    driver = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from launch.executors.local import LocalExecutor
        from launch.stage import StageJob
        code = "import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
        LocalExecutor().run(StageJob(stage="s", argv=[sys.executable, "-c", code], env={{}}, cwd={str(tmp_path)!r},
                                     log_path={str(tmp_path / 'log')!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the stage process never started"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and "Z" not in _state(child):
        assert time.monotonic() < deadline, "the stage process outlived its driver"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


def test_cancel_stops_the_process_group(tmp_path):
    executor = LocalExecutor()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(executor.run(job(tmp_path, "import time; time.sleep(60)"))))
    thread.start()
    deadline = time.monotonic() + 30
    while executor._proc is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    executor.cancel()
    thread.join(timeout=30)
    assert result == [-signal.SIGTERM]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_stage_process_computes_with_exactly_the_planned_threads(tmp_path, threads):
    """torch sizes its intra-op pool from the planner's thread variables, whatever the machine's core count."""
    from launch.engines.environment import backend_env

    code = "import torch; print('threads', torch.get_num_threads())"
    lines: list[str] = []
    stage = StageJob(stage="s", argv=[sys.executable, "-c", code], env=backend_env(threads), cwd=str(tmp_path),
                     log_path=str(tmp_path / "s" / "stage.log"))
    assert LocalExecutor().run(stage, on_line=lines.append) == 0
    assert lines[-1] == f"threads {threads}"
