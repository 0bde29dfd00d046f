"""cluster=ray against a cluster with token authentication: a loopback head started with RAY_AUTH_MODE=token.

The head (one for the module) is a ``LocalRayHead``: ``ray start --head`` with ``RAY_AUTH_MODE=token`` and its
token in ``RAY_AUTH_TOKEN_PATH``, in a HOME without ``~/.ray``; ``test_the_head_wants_a_token`` shows from Ray's
own answers that it enforces the token. The driver runs with another empty HOME, so only the token source a test
names can work. One real smoke pipeline runs on it with the right token (minutes); every other check is cheap.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from launch.executors.ray import LocalRayHead, make_ray_executor
from launch.executors.ray_auth import auth_headers, connect, write_run_token
from tests.helpers.ray_auth import AUTH_VARS, dot_ray, files_containing, isolated_env, jobs_showing, make_home
from tests.helpers.smoke_runs import REPO, TRAINING_STAGES, smoke_pipeline_argv

pytestmark = [pytest.mark.slow, pytest.mark.ray]

WRONG_TOKEN = "0123abcd" * 8


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """The token-authenticated cluster, started in a HOME that has no ~/.ray."""
    cluster_home = make_home(tmp_path_factory.mktemp("cluster"))
    with pytest.MonkeyPatch.context() as env:
        for var in AUTH_VARS:
            env.delenv(var, raising=False)
        env.setenv("HOME", str(cluster_home))
        head = LocalRayHead(num_cpus=2, num_gpus=0)
        head.start()
    try:
        yield head
    finally:
        head.stop()
    assert not (cluster_home / ".ray").exists()  # neither the head nor any job wrote there


@pytest.fixture
def driver_home(tmp_path, monkeypatch) -> Path:
    """This process as a driver with an empty HOME and none of the user's RAY_AUTH_* variables."""
    home = make_home(tmp_path)
    for var in AUTH_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    return home


def token_of(head: LocalRayHead) -> str:
    return head.token_file.read_text()


def ray_cluster(head: LocalRayHead, *overrides: str) -> list[str]:
    """Overrides that point the smoke recipe's cluster=ray profile at the head (CPU, fast polling)."""
    return ["cluster=ray", f"cluster.address={head.address}", "cluster.gpus_per_node=0",
            "cluster.poll_interval_s=1.0", *overrides]


def run_driver(run_dir: Path, env: dict[str, str], *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(smoke_pipeline_argv(run_dir, *overrides), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smoke_on_token_cluster(head, tmp_path_factory) -> dict:
    """The whole smoke pipeline as Ray jobs on the head, the driver holding the token in RAY_AUTH_TOKEN."""
    root = tmp_path_factory.mktemp("token_smoke")
    home = make_home(root)
    run_dir = root / "run"
    result = run_driver(run_dir, isolated_env(home, RAY_AUTH_TOKEN=token_of(head)), *ray_cluster(head),
                        timeout=1500)
    return {"run_dir": run_dir, "home": home, "result": result}


def test_the_head_wants_a_token(head):
    jobs_api = f"{head.address}/api/jobs/"
    assert requests.get(jobs_api, timeout=30).status_code == 401
    assert requests.get(jobs_api, headers={"Authorization": f"Bearer {WRONG_TOKEN}"}, timeout=30).status_code == 403
    assert requests.get(jobs_api, headers={"Authorization": f"Bearer {token_of(head)}"},
                        timeout=30).status_code == 200


def test_smoke_pipeline_runs_with_the_right_token_and_writes_it_nowhere(head, smoke_on_token_cluster):
    run_dir, result = smoke_on_token_cluster["run_dir"], smoke_on_token_cluster["result"]
    assert result.returncode == 0, result.stderr[-4000:]
    for stage in [*TRAINING_STAGES, "eval"]:
        assert (run_dir / stage / "DONE").is_file(), stage
        assert f"[ray] submitting prouie-{stage}-" in (run_dir / stage / "stage.log").read_text(), stage
    token = token_of(head)
    assert files_containing(run_dir, token) == []
    assert token not in result.stdout + result.stderr
    client = connect(head.address, head.token_file)
    assert sum(j.submission_id.startswith("prouie-") for j in client.list_jobs()) >= len(TRAINING_STAGES) + 1
    assert jobs_showing(client, token) == []
    assert dot_ray(smoke_on_token_cluster["home"]) == {}


def test_without_a_token_the_run_stops_before_any_stage_saying_what_to_set(head, driver_home, tmp_path):
    jobs_before = len(connect(head.address, head.token_file).list_jobs())
    run_dir = tmp_path / "run"
    result = run_driver(run_dir, isolated_env(driver_home), *ray_cluster(head))
    assert result.returncode == 2, result.stderr[-3000:]
    message = " ".join(result.stderr.split())
    assert f"the Ray cluster at {head.address} requires a token" in message
    for what in ("cluster.auth_token_file=", "RAY_AUTH_TOKEN_PATH=", "RAY_AUTH_TOKEN,", "~/.ray/auth_token",
                 "ray get-auth-token"):
        assert what in message, what
    assert list(run_dir.glob("*/stage.log")) == [] and list(run_dir.glob("*/DONE")) == []
    assert len(connect(head.address, head.token_file).list_jobs()) == jobs_before
    assert dot_ray(driver_home) == {}


def test_a_wrong_token_file_stops_the_run_before_any_stage_and_is_not_shown(head, driver_home, tmp_path):
    jobs_before = len(connect(head.address, head.token_file).list_jobs())
    wrong = tmp_path / "other_cluster_token"
    wrong.write_text(WRONG_TOKEN + "\n")
    run_dir = tmp_path / "run"
    result = run_driver(run_dir, isolated_env(driver_home), *ray_cluster(head, f"cluster.auth_token_file={wrong}"))
    assert result.returncode == 2, result.stderr[-3000:]
    message = " ".join(result.stderr.split())
    assert f"refused the token from cluster.auth_token_file={wrong}" in message
    assert WRONG_TOKEN not in result.stdout + result.stderr
    assert list(run_dir.glob("*/stage.log")) == []
    assert len(connect(head.address, head.token_file).list_jobs()) == jobs_before


@pytest.mark.parametrize("source", ["auth_token_file", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token"])
def test_every_token_source_reaches_the_cluster(head, driver_home, monkeypatch, tmp_path, source):
    token = token_of(head)
    cluster = {"kind": "ray", "address": head.address}
    if source == "auth_token_file":
        token_file = tmp_path / "token"
        token_file.write_text(f"  {token}\n")  # surrounding whitespace is dropped, as Ray's loader does
        cluster["auth_token_file"] = str(token_file)
        monkeypatch.setenv("RAY_AUTH_TOKEN", WRONG_TOKEN)  # the recipe's file wins over the environment
    elif source == "RAY_AUTH_TOKEN":
        monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    elif source == "RAY_AUTH_TOKEN_PATH":
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(head.token_file))
    else:
        (driver_home / ".ray").mkdir()
        (driver_home / ".ray" / "auth_token").write_text(token)
    executor = make_ray_executor(cluster)
    assert executor.client.get_version()
    assert isinstance(executor.client.list_jobs(), list)


def test_unreadable_token_sources_are_named_without_showing_values(driver_home, monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="cluster.auth_token_file names no readable file") as err:
        auth_headers(WRONG_TOKEN)  # the token itself given instead of a file's path
    assert WRONG_TOKEN not in str(err.value)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValueError, match=f"cluster.auth_token_file={empty} is empty"):
        auth_headers(empty)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="RAY_AUTH_TOKEN_PATH is set but file cannot be opened"):
        auth_headers(None)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH")
    assert auth_headers(None) == {}  # no token anywhere: an unauthenticated cluster still works


def test_gcs_address_authenticates_with_rays_own_settings(head, driver_home):
    """``<ip>:<port>`` is looked up over Ray's gRPC: Ray's RAY_AUTH_MODE=token + token path, or a clear error."""
    code = ("import sys; from launch.executors.ray import make_ray_executor;"
            "e = make_ray_executor({'kind': 'ray', 'address': sys.argv[1]}); print('jobs at', e.address,"
            "len(e.client.list_jobs()))")
    argv = [sys.executable, "-c", code, f"127.0.0.1:{head.gcs_port}"]
    loopback = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keep 127.0.0.1 (the head listens on loopback only)
    env = isolated_env(driver_home, **loopback, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(head.token_file))
    ok = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "jobs at" in ok.stdout, ok.stderr[-3000:]
    refused = subprocess.run(argv, cwd=REPO, env=isolated_env(driver_home, **loopback, RAY_AUTH_TOKEN_PATH=str(
        head.token_file)), capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    message = " ".join(refused.stderr.split())
    assert "(through its GCS) was refused" in message and "set RAY_AUTH_MODE=token" in message
    assert token_of(head) not in ok.stdout + ok.stderr + refused.stdout + refused.stderr


def test_ray_local_refuses_a_token_file_or_a_ray_address_before_starting_a_head(monkeypatch):
    with pytest.raises(ValueError, match="cluster.auth_token_file is for cluster=ray"):
        make_ray_executor({"kind": "ray_local", "auth_token_file": "/some/file"})
    monkeypatch.setenv("RAY_ADDRESS", "http://elsewhere:8265")
    with pytest.raises(ValueError, match="RAY_ADDRESS=http://elsewhere:8265 is set: Ray would send"):
        make_ray_executor({"kind": "ray_local"})


def test_run_token_is_fresh_and_readable_by_the_user_only(tmp_path):
    first, second = write_run_token(tmp_path / "a"), write_run_token(tmp_path / "b")
    assert [p.stat().st_mode & 0o777 for p in (first, second)] == [0o600, 0o600]
    assert [p.parent.stat().st_mode & 0o777 for p in (first, second)] == [0o700, 0o700]
    assert len(first.read_text()) == 64 and first.read_text() != second.read_text()
    with pytest.raises(FileExistsError):
        write_run_token(tmp_path / "b")  # never reuses a folder someone may have prepared


def test_a_killed_driver_leaves_no_head_token_behind(tmp_path):
    code = ("from launch.executors.ray import LocalRayHead; import time; head = LocalRayHead(num_cpus=1);"
            "head.start(); print(head.token_file, flush=True); time.sleep(600)")
    driver = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env=isolated_env(make_home(tmp_path)))
    try:
        token_file = Path(driver.stdout.readline().strip())
        assert token_file.is_file() and token_file.is_relative_to("/tmp")
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 120
    while token_file.parent.parent.exists():  # the head's whole temp dir goes, the token with it
        assert time.monotonic() < deadline, f"{token_file.parent.parent} still there 120 s after the driver died"
        time.sleep(0.5)
