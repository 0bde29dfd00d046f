"""The smoke pipeline (first two SFT stages, tiny sizes) on a loopback Ray head (cluster=ray_local) against the
local executor: the driver is SIGKILLed while stage 2 runs as a Ray job, the rerun resumes from stage 2, and the
stage outputs (data, fingerprints, trained weights) equal the local run's.  Real training: a few minutes."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[1]
STAGES = ["cm_ner", "cm_ner_re"]
SMALL = ["+experiment=smoke", "pipeline.skip=[cm_all,sa,de_ner,de_re,de_ee]", "pipeline.eval.enabled=false",
         "stages.cm_ner.mixture.ner=16", "stages.cm_ner.epochs=1", "stages.cm_ner_re.mixture={ner: 4, re: 12}",
         "stages.cm_ner_re.epochs=1"]


def pipeline(run_dir: Path, cluster: str, cwd: Path) -> list[str]:
    return [sys.executable, str(REPO / "launch" / "run_pipeline.py"), *SMALL, f"cluster={cluster}",
            f"pipeline.run_dir={run_dir}"]


def weights_sha(run_dir: Path, stage: str) -> str:
    return hashlib.sha256((run_dir / stage / "output" / "model.safetensors").read_bytes()).hexdigest()


def done(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / stage / "DONE").read_text())


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """A local run, and a ray_local run whose driver is killed during stage 2 and then rerun."""
    tmp = tmp_path_factory.mktemp("ray_pipeline")
    local, ray = tmp / "local", tmp / "ray_local"
    subprocess.run(pipeline(local, "local", tmp), cwd=tmp, check=True, capture_output=True, timeout=900)

    driver = subprocess.Popen(pipeline(ray, "ray_local", tmp), cwd=tmp, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    log = ray / "cm_ner_re" / "stage.log"
    deadline = time.monotonic() + 900
    while not (log.exists() and "Running entrypoint" in log.read_text()):
        assert driver.poll() is None, "the ray_local driver ended before stage 2 started"
        assert time.monotonic() < deadline
        time.sleep(0.5)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    first_done = (ray / "cm_ner" / "DONE").read_text()
    killed_stage2_done = (ray / "cm_ner_re" / "DONE").exists()
    port = int(re.search(r"to http://127\.0\.0\.1:(\d+)", log.read_text()).group(1))
    deadline = time.monotonic() + 60
    while port_open(port) and time.monotonic() < deadline:  # the head dies with its driver
        time.sleep(1)
    head_left = port_open(port)

    rerun = subprocess.run(pipeline(ray, "ray_local", tmp), cwd=tmp, capture_output=True, text=True, timeout=900)
    return {"local": local, "ray": ray, "first_done": first_done, "killed_stage2_done": killed_stage2_done,
            "head_left": head_left, "rerun": rerun}


def test_killed_driver_leaves_no_head_and_rerun_resumes_at_the_unfinished_stage(runs):
    ray, rerun = runs["ray"], runs["rerun"]
    assert not runs["killed_stage2_done"]
    assert not runs["head_left"]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert re.search(r"cm_ner\s+cached", rerun.stderr)
    assert (ray / "cm_ner" / "DONE").read_text() == runs["first_done"]  # stage 1 untouched
    assert done(ray, "cm_ner_re")["results"]["steps"] == 2.0
    assert "[ray] submitting" in (ray / "cm_ner_re" / "stage.log").read_text()


def test_ray_local_stage_outputs_equal_the_local_executor(runs):
    local, ray = runs["local"], runs["ray"]
    for stage in STAGES:
        ours, theirs = done(ray, stage), done(local, stage)
        assert ours["results"]["data_outputs"] == theirs["results"]["data_outputs"], stage
        assert ours["results"]["train_loss"] == pytest.approx(theirs["results"]["train_loss"], rel=1e-5), stage
        assert weights_sha(ray, stage) == weights_sha(local, stage), stage
