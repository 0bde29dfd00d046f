"""The Ray executor against a real one-machine Ray head on 127.0.0.1 (cluster=ray_local), on CPU.

One head serves the whole module (it takes ~10 s to start); it is stopped even when a test fails. It is started
the way a user who ran Ray before would: HOME holds a foreign ``~/.ray/auth_token`` and ``RAY_AUTH_TOKEN`` names
another cluster's token; the head must use its own token anyway and leave ``~/.ray`` as it was.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from launch.executors.ray import RayJobExecutor, job_submission, make_ray_executor, submission_prefix
from launch.executors.ray_auth import connect
from launch.stage import StageFailed, StageJob
from tests.helpers.ray_auth import AUTH_VARS, FOREIGN_TOKEN, dot_ray, jobs_showing, make_home

pytestmark = [pytest.mark.slow, pytest.mark.ray]

PY = sys.executable
REPO = str(Path(__file__).resolve().parents[2])
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


@pytest.fixture(scope="module")
def user_home(tmp_path_factory) -> Path:
    """The HOME of the module: a foreign ~/.ray/auth_token in it."""
    return make_home(tmp_path_factory.mktemp("user"), token=FOREIGN_TOKEN)


@pytest.fixture(scope="module")
def ray_local(user_home):
    with pytest.MonkeyPatch.context() as env:
        for var in AUTH_VARS:
            env.delenv(var, raising=False)
        env.setenv("HOME", str(user_home))
        env.setenv("RAY_AUTH_TOKEN", FOREIGN_TOKEN[::-1])
        executor = make_ray_executor({"kind": "ray_local", "cpus_per_node": 2, "gpus_per_node": 0,
                                      "poll_interval_s": 0.3, "retries": 0})
        try:
            yield executor
        finally:
            executor.close()


def executor_on(head: RayJobExecutor, **settings) -> RayJobExecutor:
    """Another executor (other retry policy) on the module's head, with the head's token."""
    return RayJobExecutor({"poll_interval_s": 0.3, "auth_token_file": str(head.head.token_file), **settings},
                          head.address)


def python_job(tmp_path: Path, code: str, stage: str = "s", **kw) -> StageJob:
    return StageJob(stage=stage, argv=[PY, "-c", code], env=kw.pop("env", {}), cwd=str(tmp_path),
                    log_path=str(tmp_path / stage / "stage.log"), **kw)


def stage_jobs(head: RayJobExecutor, job: StageJob) -> list:
    prefix = submission_prefix(job)
    return sorted((j for j in head.client.list_jobs() if (j.submission_id or "").startswith(prefix)),
                  key=lambda j: j.submission_id)


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_stage_runs_as_a_job_in_its_cwd_with_its_env_and_log(ray_local, tmp_path):
    lines: list[str] = []
    job = python_job(tmp_path, "import os; print('cwd', os.getcwd()); print('env', os.environ['STAGE_VAR']);"
                               "print('step 1\\rstep 2')", env={"STAGE_VAR": "v1"})
    assert ray_local.run(job, on_line=lines.append) == 0
    log = Path(job.log_path).read_text()
    assert f"cwd {tmp_path}\nenv v1\n" in log
    assert "SUCCEEDED" in log
    assert ["step 1", "step 2"] == [line for line in lines if line.startswith("step")]
    [details] = stage_jobs(ray_local, job)
    assert details.status.value == "SUCCEEDED" and details.metadata["prouie_stage"] == "s"


def test_exit_code_comes_back_and_failures_are_not_retried_without_retries(ray_local, tmp_path):
    job = python_job(tmp_path, "import sys; print('boom'); sys.exit(3)")
    assert ray_local.run(job) == 3
    assert [j.status.value for j in stage_jobs(ray_local, job)] == ["FAILED"]
    assert "boom" in Path(job.log_path).read_text()


def test_job_killed_or_stopped_mid_run_is_retried_until_it_succeeds(ray_local, tmp_path):
    """Attempt 1 is SIGKILLed, attempt 2 is stopped from outside (a lost job), attempt 3 finishes."""
    script = tmp_path / "flaky.py"
    script.write_text(
        "import os, pathlib, signal, time\n"
        "seen = pathlib.Path('attempts'); n = len(seen.read_text()) if seen.exists() else 0\n"
        "seen.write_text('x' * (n + 1))\n"
        "if n == 0: os.kill(os.getpid(), signal.SIGKILL)\n"
        "if n == 1: pathlib.Path('running').touch(); time.sleep(120)\n"
        "print('finished on attempt', n + 1)\n")
    job = StageJob(stage="flaky", argv=[PY, str(script)], env={}, cwd=str(tmp_path),
                   log_path=str(tmp_path / "flaky" / "stage.log"))
    executor = executor_on(ray_local, retries=2)

    def stop_second_attempt() -> None:
        wait_for(tmp_path / "running")
        [running] = [j for j in stage_jobs(ray_local, job) if j.status.value == "RUNNING"]
        ray_local.client.stop_job(running.submission_id)

    stopper = threading.Thread(target=stop_second_attempt)
    stopper.start()
    assert executor.run(job) == 0
    stopper.join()
    assert [j.status.value for j in stage_jobs(ray_local, job)] == ["FAILED", "STOPPED", "SUCCEEDED"]
    log = Path(job.log_path).read_text()
    assert "attempt 1 failed" in log and "attempt 2 failed" in log and "finished on attempt 3" in log


def test_cancel_stops_the_running_job_and_its_process_without_retry(ray_local, tmp_path):
    job = python_job(tmp_path, "import os, pathlib, time; pathlib.Path('pid').write_text(str(os.getpid()));"
                               "time.sleep(120)")
    executor = executor_on(ray_local, retries=2)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(executor.run(job)))
    runner.start()
    wait_for(tmp_path / "pid")
    pid = int((tmp_path / "pid").read_text())
    executor.cancel()
    runner.join(timeout=60)
    assert result == [-15]
    assert [j.status.value for j in stage_jobs(ray_local, job)] == ["STOPPED"]
    assert _gone(pid)


def test_rerun_reattaches_to_the_same_job_left_running_by_a_killed_driver(ray_local, tmp_path):
    job = python_job(tmp_path, "import time; time.sleep(2); print('work of the first driver')")
    prefix = submission_prefix(job)
    ray_local.client.submit_job(submission_id=f"{prefix}0", **job_submission(job, {}))  # the crashed driver's
    assert executor_on(ray_local).run(job) == 0
    assert [j.submission_id for j in stage_jobs(ray_local, job)] == [f"{prefix}0"]  # nothing resubmitted
    log = Path(job.log_path).read_text()
    assert f"re-attaching to {prefix}0" in log and "work of the first driver" in log


def test_rerun_stops_a_left_running_job_whose_command_changed(ray_local, tmp_path):
    old = python_job(tmp_path, "import time; time.sleep(120)")
    new = python_job(tmp_path, "print('new config')")
    prefix = submission_prefix(new)
    ray_local.client.submit_job(submission_id=f"{prefix}0", **job_submission(old, {}))
    assert executor_on(ray_local).run(new) == 0
    assert [(j.submission_id, j.status.value) for j in stage_jobs(ray_local, new)] == [
        (f"{prefix}0", "STOPPED"), (f"{prefix}1", "SUCCEEDED")]
    assert "new config" in Path(new.log_path).read_text()


def test_multinode_program_pins_one_copy_per_node_and_propagates_failure(ray_local, tmp_path):
    show = "import os; print('vars', *(os.environ[k] for k in ('NODE_RANK', 'NNODES', 'MASTER_ADDR', 'MASTER_PORT')))"
    spec = {"argv": [PY, "-c", show], "cwd": str(tmp_path), "nnodes": 1, "gpus_per_node": 0, "cpus_per_node": 1,
            "master_port": 29577}
    env = {"PYTHONPATH": REPO}
    job = StageJob(stage="mn", argv=[PY, "-m", "launch.executors.multinode", json.dumps(spec)], env=env, cwd=REPO,
                   log_path=str(tmp_path / "mn" / "stage.log"))
    assert ray_local.run(job) == 0
    assert "[node 0] vars 0 1 127.0.0.1 29577" in Path(job.log_path).read_text()
    failing = {**spec, "argv": [PY, "-c", "import sys; sys.exit(5)"]}
    bad = StageJob(stage="mn_bad", argv=[PY, "-m", "launch.executors.multinode", json.dumps(failing)], env=env,
                   cwd=REPO, log_path=str(tmp_path / "mn_bad" / "stage.log"))
    assert ray_local.run(bad) == 5
    assert "node 0 exited with 5" in Path(bad.log_path).read_text()


def test_multinode_stage_without_shared_dir_is_refused_before_submitting(ray_local, tmp_path):
    job = python_job(tmp_path, "print(1)", stage="wide", nnodes=2)
    with pytest.raises(StageFailed, match="nnodes=2 needs cluster.shared_dir"):
        executor_on(ray_local).run(job)
    assert stage_jobs(ray_local, job) == []


def test_local_head_has_its_own_token_and_refuses_requests_without_it(ray_local):
    token_file = ray_local.head.token_file
    token = token_file.read_text()
    assert token_file.parent.parent == Path(ray_local.head.temp_dir)
    assert (token_file.stat().st_mode & 0o777, token_file.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert len(token) == 64 and token not in (FOREIGN_TOKEN, FOREIGN_TOKEN[::-1])
    jobs_api = f"{ray_local.address}/api/jobs/"
    assert requests.get(jobs_api, timeout=30).status_code == 401
    assert requests.get(jobs_api, headers={"Authorization": f"Bearer {FOREIGN_TOKEN}"}, timeout=30).status_code == 403
    assert requests.get(jobs_api, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
    with pytest.raises(ValueError, match="refused the token from RAY_AUTH_TOKEN") as refused:
        connect(ray_local.address)  # the user's own token (RAY_AUTH_TOKEN of the fixture) is not this head's
    assert FOREIGN_TOKEN[::-1] not in str(refused.value)


def test_ray_init_inside_a_job_joins_with_the_heads_token_and_home_stays_untouched(ray_local, user_home, tmp_path):
    code = ("import ray; ray.init(); square = ray.remote(lambda x: x * x);"
            "print('squares', ray.get([square.remote(i) for i in range(4)]))")
    job = python_job(tmp_path, code, stage="inner_init")
    assert ray_local.run(job) == 0
    assert "squares [0, 1, 4, 9]" in Path(job.log_path).read_text()
    assert dot_ray(user_home) == {"auth_token": FOREIGN_TOKEN.encode()}
    token = ray_local.head.token_file.read_text()
    assert [j.status.value for j in stage_jobs(ray_local, job)] == ["SUCCEEDED"]  # the jobs looked through
    assert jobs_showing(ray_local.client, token) == []


def test_local_head_listens_on_loopback_only(ray_local):
    # Agents open their ports after the Jobs API answers: look until at least five listen (GCS, raylet,
    # dashboard, agents, so the check is not vacuous), and check every socket seen on the way.
    deadline = time.monotonic() + 60
    while True:
        listening = _listening(ray_local.head.proc.pid)
        assert {c.laddr.ip for c in listening} <= LOOPBACK
        if len(listening) >= 5:
            break
        assert time.monotonic() < deadline, f"only {len(listening)} listening sockets after 60 s"
        time.sleep(0.5)


def _listening(session: int) -> list:
    """Listening inet sockets of every process in the head's session."""
    members = [p for p in psutil.process_iter() if _sid(p.pid) == session]
    procs = {p.pid: p for m in members for p in _family(m)}
    return [c for p in procs.values() for c in _connections(p) if c.status == psutil.CONN_LISTEN]


def _sid(pid: int) -> int | None:
    import os

    try:
        return os.getsid(pid)
    except OSError:
        return None


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for its parent counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _family(proc: psutil.Process) -> list[psutil.Process]:
    """The process and its descendants; Ray's short-lived helpers may exit while we look."""
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


def _connections(proc: psutil.Process) -> list:
    try:
        return proc.net_connections(kind="inet")
    except psutil.Error:
        return []
