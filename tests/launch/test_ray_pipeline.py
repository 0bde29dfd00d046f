"""The whole smoke pipeline on a loopback Ray head (cluster=ray_local) against the local executor.

The ray_local driver is SIGKILLed while stage 2 runs as a Ray job; the head must die with it, and a rerun must
resume at stage 2 and finish every stage and eval with the same outputs as the shared local run (``smoke_run``):
the same data, fingerprints, losses and rewards, byte-identical weights and the same eval scores.
The driver runs as a user who used Ray before: ``~/.ray/auth_token`` and ``RAY_AUTH_TOKEN`` hold another
cluster's token, which must change nothing and stay as they are; the head's own token is written nowhere.
Real training on CPU: a few minutes.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.ray_auth import FOREIGN_TOKEN, dot_ray, files_containing, isolated_env, make_home
from tests.helpers.smoke_runs import REPO, TRAINING_STAGES, done, smoke_pipeline_argv, weights_sha

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RESULT_KEYS = ("data_outputs", "samples", "steps", "train_loss", "final_loss", "mean_reward", "final_reward")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def head_token(driver: subprocess.Popen) -> str:
    """The token of the head a ray_local driver started (the file its RAY_AUTH_TOKEN_PATH names), while it runs."""
    for proc in psutil.Process(driver.pid).children(recursive=True):
        try:
            token_path = proc.environ().get("RAY_AUTH_TOKEN_PATH")
        except psutil.Error:
            continue
        if token_path:
            return Path(token_path).read_text()
    raise AssertionError("no Ray head under the ray_local driver")


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory) -> dict:
    """A ray_local run whose driver is killed during stage 2, then rerun to the end."""
    root = tmp_path_factory.mktemp("ray_pipeline")
    run_dir, home = root / "run", make_home(root, token=FOREIGN_TOKEN)
    env = isolated_env(home, RAY_AUTH_TOKEN=FOREIGN_TOKEN[::-1])
    argv = smoke_pipeline_argv(run_dir, "cluster=ray_local")
    driver = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = run_dir / "cm_ner_re" / "stage.log"
    deadline = time.monotonic() + 900
    while not (log.exists() and "Running entrypoint" in log.read_text()):
        assert driver.poll() is None, "the ray_local driver ended before stage 2 started"
        assert time.monotonic() < deadline
        time.sleep(0.5)
    token = head_token(driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    first_done = (run_dir / "cm_ner" / "DONE").read_text()
    killed_stage2_done = (run_dir / "cm_ner_re" / "DONE").exists()
    port = int(re.search(r"to http://127\.0\.0\.1:(\d+)", log.read_text()).group(1))
    deadline = time.monotonic() + 60
    while port_open(port) and time.monotonic() < deadline:  # the head dies with its driver
        time.sleep(1)
    head_left = port_open(port)

    rerun = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    return {"run_dir": run_dir, "first_done": first_done, "killed_stage2_done": killed_stage2_done,
            "head_left": head_left, "rerun": rerun, "token": token, "dot_ray": dot_ray(home)}


def test_killed_driver_leaves_no_head_and_rerun_resumes_at_the_unfinished_stage(ray_run):
    run_dir, rerun = ray_run["run_dir"], ray_run["rerun"]
    assert not ray_run["killed_stage2_done"]
    assert not ray_run["head_left"]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert re.search(r"cm_ner\s+cached", rerun.stderr)
    assert (run_dir / "cm_ner" / "DONE").read_text() == ray_run["first_done"]  # stage 1 untouched
    for stage in [*TRAINING_STAGES[1:], "eval"]:
        assert "[ray] submitting" in (run_dir / stage / "stage.log").read_text(), stage


def test_the_users_ray_settings_change_nothing_and_the_heads_token_is_written_nowhere(ray_run):
    assert ray_run["rerun"].returncode == 0, ray_run["rerun"].stderr[-3000:]
    assert ray_run["dot_ray"] == {"auth_token": FOREIGN_TOKEN.encode()}
    assert len(ray_run["token"]) == 64
    assert files_containing(ray_run["run_dir"], ray_run["token"]) == []


def test_every_stage_output_equals_the_local_executor(ray_run, smoke_run: Path):
    run_dir = ray_run["run_dir"]
    assert ray_run["rerun"].returncode == 0, ray_run["rerun"].stderr[-3000:]
    for stage in TRAINING_STAGES:
        ours, theirs = done(run_dir / stage), done(smoke_run / stage)
        assert ours["fingerprint"] == theirs["fingerprint"], stage
        for key in RESULT_KEYS:
            assert ours["results"].get(key) == theirs["results"].get(key), (stage, key)
        assert weights_sha(run_dir / stage) == weights_sha(smoke_run / stage), stage
    ours, theirs = (json.loads((r / "eval" / "output" / "report.json").read_text()) for r in (run_dir, smoke_run))
    assert ours["averages"] == theirs["averages"]
    assert [d["scores"] for d in ours["datasets"]] == [d["scores"] for d in theirs["datasets"]]
