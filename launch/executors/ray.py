"""Run pipeline stages as Ray jobs (Ray Jobs API) on an existing cluster or on a throwaway loopback head.

Each :class:`~launch.executors.local.StageJob` becomes one Ray job whose entrypoint is ``cd <cwd> && exec <argv>``, with
``job.env`` (on top of the profile's ``runtime_env.env_vars``) in the job's runtime environment. The job's log is
followed into ``job.log_path``; its status is polled every ``cluster.poll_interval_s``; a job that fails or is
stopped from outside is resubmitted up to ``cluster.retries`` times. The driver writes the stage markers (DONE)
exactly as for local runs, so a rerun skips finished stages.

Submission ids are deterministic: ``prouie-<stage>-<hash of the stage log path>-a<attempt>``. When a driver
starts a stage and finds a job of that stage still running from a previous (crashed) driver, it RE-ATTACHES to
it if the job was submitted with the same entrypoint, environment and resources (a fingerprint in the job's
metadata), and stops it and submits a fresh attempt otherwise (the stage's config changed since).

Multi-node stages (``nnodes > 1``): ``multinode="torchrun"`` runs ``python -m launch.executors.multinode`` as the job,
which starts one copy per node; ``multinode="ray_driver"`` (EasyR1) runs the command once, and its ``ray.init()``
joins the cluster through the ``RAY_ADDRESS`` that Ray sets inside every job.

The code, the run dir and the models must be visible at the same path on every node (``cluster.shared_dir``;
:func:`check_shared_paths` guards this before a stage starts), or shipped with ``cluster.runtime_env``.

Clusters with token authentication: the job client sends the driver's token (``launch.executors.ray_auth``), and a
missing or wrong one stops the run when the executor is made, before any stage. The loopback head of ``ray_local``
always runs with token authentication and a token made for the run, kept in the head's own temp dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from launch.engines.environment import REPO_ROOT, cluster_shape
from launch.executors.processes import LineSplitter, die_with_parent
from launch.executors.ray_auth import TOKEN_FILE_KEY, connect, write_run_token
from launch.stage import OnLine, StageFailed, StageJob

HEAD_START_TIMEOUT_S = 120.0


def _plain(value: Any) -> Any:
    """A profile value as plain Python (the profile may be an OmegaConf node)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def check_shared_paths(cluster: Mapping, run_dir: str | Path, paths: Iterable[str | Path] = ()) -> None:
    """Refuse to start when the run dir (and ``paths``) are not on the storage every node shares.

    Multi-node stages write checkpoints that the next stage reads on another node, so ``cluster.shared_dir``
    is required for them, must exist and be writable, and must contain the run dir and every path given.
    """
    shared = cluster.get("shared_dir")
    if not shared:
        if cluster_shape(cluster)[0] > 1:
            raise ValueError(
                f"cluster.nnodes={cluster.get('nnodes')} needs cluster.shared_dir: a directory mounted at the same "
                "path on every node (the run dir goes inside it, e.g. pipeline.run_dir=<shared_dir>/runs/<name>)"
            )
        return
    shared_path = Path(shared).resolve()
    if not shared_path.is_dir():
        raise ValueError(f"cluster.shared_dir={shared!r} does not exist or is not a directory on this machine")
    if not os.access(shared_path, os.W_OK):
        raise ValueError(f"cluster.shared_dir={shared!r} is not writable")
    for label, path in [("run dir", run_dir), *(("path", p) for p in paths)]:
        if not Path(path).resolve().is_relative_to(shared_path):
            raise ValueError(
                f"the {label} {str(path)!r} is not inside cluster.shared_dir={shared!r}; other nodes could not "
                "read or write it (set pipeline.run_dir under the shared dir)"
            )


def submission_prefix(job: StageJob) -> str:
    """The stable part of a stage's submission ids: same run dir and stage -> same prefix, across drivers."""
    digest = hashlib.sha1(str(Path(job.log_path).resolve()).encode()).hexdigest()[:10]
    return f"prouie-{re.sub(r'[^A-Za-z0-9_]', '_', job.stage)}-{digest}-a"


def job_submission(job: StageJob, cluster: Mapping) -> dict[str, Any]:
    """``JobSubmissionClient.submit_job`` keyword arguments for a stage (all but the submission id)."""
    runtime_env = dict(_plain(cluster.get("runtime_env")) or {})
    env_vars = {**runtime_env.get("env_vars", {}), **job.env}
    command = list(job.argv)
    resources: dict[str, Any] = {"entrypoint_num_cpus": job.num_cpus, "entrypoint_num_gpus": job.num_gpus}
    if job.nnodes > 1 and job.multinode == "torchrun":
        spec = {"argv": job.argv, "cwd": job.cwd, "nnodes": job.nnodes, "gpus_per_node": job.num_gpus,
                "cpus_per_node": job.num_cpus, "master_port": int(cluster.get("master_port") or 29500)}
        command = ["python", "-m", "launch.executors.multinode", json.dumps(spec, sort_keys=True)]
        resources = {}  # the per-node tasks hold the GPUs; the coordinator only waits
        env_vars["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env_vars.get("PYTHONPATH")) if p)
    elif job.nnodes > 1 and job.multinode == "ray_driver":
        resources["entrypoint_num_gpus"] = 0  # the framework's own Ray workers take the GPUs
    elif job.nnodes > 1:
        raise StageFailed(job.stage, None, f"unknown multinode mode {job.multinode!r}; torchrun or ray_driver")
    entrypoint = shlex.join(command)
    if "working_dir" not in runtime_env:
        entrypoint = f"cd {shlex.quote(job.cwd)} && exec {entrypoint}"
    runtime_env["env_vars"] = env_vars
    kwargs = {"entrypoint": entrypoint, "runtime_env": runtime_env, **resources}
    fingerprint = hashlib.sha1(json.dumps(kwargs, sort_keys=True).encode()).hexdigest()
    return {**kwargs, "metadata": {"prouie_stage": job.stage, "prouie_fingerprint": fingerprint}}


class _LogSink:
    """Appends a job's log text to the stage log and hands whole lines to ``on_line`` (a :class:`LineSplitter`)."""

    def __init__(self, log, on_line: OnLine | None) -> None:
        self.log, self.lines = log, LineSplitter(on_line) if on_line is not None else None

    def write(self, text: str) -> None:
        self.log.write(text)
        self.log.flush()
        if self.lines is not None:
            self.lines.feed(text)

    def finish(self) -> None:
        if self.lines is not None:
            self.lines.close()


class RayJobExecutor:
    """Executor (see ``launch.executors.local.Executor``) that runs each stage as a job on a Ray cluster.

    Every request authenticates with the token of ``cluster.auth_token_file`` or of Ray's usual places (the
    ``ray_local`` head's own token for that head); a cluster that refuses it raises ``ValueError`` here.
    """

    def __init__(self, cluster: Mapping, address: str, name: str = "ray", head: LocalRayHead | None = None) -> None:
        self.name, self.cluster, self.head = name, cluster, head
        self.address = address
        self.client = connect(address, head.token_file if head is not None else cluster.get("auth_token_file"))
        self.poll_interval_s = float(cluster.get("poll_interval_s") or 2.0)
        self.retries = int(cluster.get("retries") or 0)
        self._current: str | None = None
        self._cancelled = False

    def _previous_attempts(self, prefix: str) -> list:
        """This stage's jobs already on the cluster (earlier drivers or attempts), oldest attempt first."""
        jobs = [j for j in self.client.list_jobs() if (j.submission_id or "").startswith(prefix)]
        return sorted(jobs, key=lambda j: int(j.submission_id[len(prefix):]))

    def _adopt_or_stop(self, previous: list, submission: Mapping, sink: _LogSink) -> str | None:
        """Re-attach to a still-running identical job of a previous driver; stop running ones that differ."""
        adopted = None
        for details in previous:
            if details.status.is_terminal():
                continue
            if adopted is None and details.metadata.get("prouie_fingerprint") == submission["metadata"][
                    "prouie_fingerprint"]:
                adopted = details.submission_id
                sink.write(f"[ray] re-attaching to {adopted}, still {details.status.value} from an earlier driver; "
                           "its whole log follows\n")
            else:
                sink.write(f"[ray] stopping {details.submission_id} ({details.status.value}): submitted with another "
                           "command or environment\n")
                self._stop_and_wait(details.submission_id)
        return adopted

    # -- Executor -----------------------------------------------------------------------------------------------
    def run(self, job: StageJob, on_line: OnLine | None = None) -> int:
        """Run the stage as a Ray job (retrying failed attempts); the last attempt's exit code is returned."""
        if self.cluster.get("shared_dir") or job.nnodes > 1:
            try:
                check_shared_paths({**self.cluster, "nnodes": job.nnodes}, Path(job.log_path).parent)
            except ValueError as err:
                raise StageFailed(job.stage, None, str(err)) from err
        self._cancelled = False
        submission = job_submission(job, self.cluster)
        prefix = submission_prefix(job)
        Path(job.log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(job.log_path, "a", encoding="utf-8") as log:
            sink = _LogSink(log, on_line)
            previous = self._previous_attempts(prefix)
            next_attempt = int(previous[-1].submission_id[len(prefix):]) + 1 if previous else 0
            submission_id = self._adopt_or_stop(previous, submission, sink)
            code = 1
            for attempt in range(self.retries + 1):
                if submission_id is None:
                    submission_id = f"{prefix}{next_attempt}"
                    next_attempt += 1
                    sink.write(f"$ {shlex.join(job.argv)}\n[ray] submitting {submission_id} to {self.address} "
                               f"(attempt {attempt + 1} of {self.retries + 1})\n")
                    self.client.submit_job(submission_id=submission_id, **submission)
                code = self._follow(submission_id, sink)
                submission_id = None
                if code == 0 or self._cancelled:
                    break
                if attempt < self.retries:
                    sink.write(f"[ray] attempt {attempt + 1} failed with exit code {code}; retrying\n")
            return code

    def _follow(self, submission_id: str, sink: _LogSink) -> int:
        """Copy the job's log into the sink until the job ends; its exit code (negative signal when stopped)."""
        self._current = submission_id
        written = 0
        try:
            while True:
                details = self.client.get_job_info(submission_id)
                text = self.client.get_job_logs(submission_id)
                sink.write(text[written:])
                written = len(text)
                if details.status.is_terminal():
                    break
                time.sleep(self.poll_interval_s)
        except BaseException:
            self._stop(submission_id)  # the driver is going down (Ctrl-C): leave no job behind
            raise
        finally:
            self._current = None
        sink.finish()
        status = details.status.value
        message = (details.message or "").splitlines()[0] if details.message else ""
        sink.write(f"[ray] {submission_id} {status}: {message}\n")
        if status == "SUCCEEDED":
            return 0
        if status == "STOPPED":
            return -signal.SIGTERM
        return details.driver_exit_code or 1

    def _stop(self, submission_id: str) -> None:
        try:
            self.client.stop_job(submission_id)
        except RuntimeError:  # already gone
            pass

    def _stop_and_wait(self, submission_id: str, timeout_s: float = 120.0) -> None:
        """Stop a job and wait until it has ended, so it cannot race its replacement over the stage's files.

        A stop request can be lost while the job is still setting up, so it is repeated until the job ends.
        """
        deadline = time.monotonic() + timeout_s
        while not self.client.get_job_status(submission_id).is_terminal():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Ray job {submission_id} did not stop within {timeout_s:.0f} s; stop it with "
                                   f"`ray job stop {submission_id}` and rerun")
            self._stop(submission_id)
            time.sleep(min(self.poll_interval_s, 1.0))

    def cancel(self) -> None:
        """Stop the running job and do not retry it."""
        self._cancelled = True
        if self._current is not None:
            self._stop(self._current)

    def close(self) -> None:
        """Stop a running job; for ``ray_local`` also stop the head this executor started."""
        self.cancel()
        if self.head is not None:
            self.head.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRayHead:
    """A one-machine Ray cluster on 127.0.0.1 only, for one pipeline run (``cluster=ray_local``; tests).

    ``ray start --head --block`` runs under a small watchdog (``python -m launch.executors.ray head``) in its own
    session; stopping the watchdog, or the driver dying, ends every process of that session and removes the
    head's temp dir. ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray keep the node address on loopback (otherwise
    it swaps 127.0.0.1 for the machine's external address and listens on all interfaces).

    The head runs with token authentication (``RAY_AUTH_MODE=token``) and a token made for it in its temp dir
    (``token_file`` in a 0700 folder: Ray opens its temp dir to all users; gone with the dir), whatever ``~/.ray``
    holds: ``RAY_AUTH_TOKEN_PATH`` points Ray
    there (before ``~/.ray/auth_token``) and ``RAY_AUTH_TOKEN`` is dropped, so Ray neither reads nor writes
    ``~/.ray``. The head's workers, hence every stage job and a ``ray.init()`` inside one, inherit both settings.
    """

    def __init__(self, num_cpus: int | None = None, num_gpus: int | None = None,
                 object_store_bytes: int = 100_000_000) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="prouie-ray-", dir="/tmp")  # short: Ray's socket paths are limited
        self.token_file = write_run_token(Path(self.temp_dir) / "auth")
        self.dashboard_port, self.gcs_port = _free_port(), _free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        ray_bin = Path(sys.executable).with_name("ray")
        self.argv = [
            str(ray_bin), "start", "--head", "--block", "--disable-usage-stats",
            "--node-ip-address=127.0.0.1", f"--port={self.gcs_port}", "--include-dashboard=true",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={_free_port()}", f"--dashboard-agent-listen-port={_free_port()}",
            f"--num-cpus={num_cpus or os.cpu_count()}", f"--object-store-memory={object_store_bytes}",
            f"--temp-dir={self.temp_dir}",
        ]
        if num_gpus is not None:
            self.argv.append(f"--num-gpus={num_gpus}")
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        """Start the head and wait until its job server answers; the dashboard address is returned."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN")}
        env.update(RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
                   RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_file),
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
        log = open(Path(self.temp_dir) / "head.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "launch.executors.ray", "head", self.temp_dir, *self.argv], cwd=REPO_ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=partial(die_with_parent, signal.SIGTERM),  # the watchdog ends the head's session
        )
        log.close()
        deadline = time.monotonic() + HEAD_START_TIMEOUT_S
        while True:
            try:
                connect(self.address, self.token_file)
                return self.address
            except Exception as err:  # noqa: BLE001 - any failure to connect means: not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = (Path(self.temp_dir) / "head.log").read_text(errors="replace")[-3000:]
                    self.stop()
                    raise RuntimeError(f"the local Ray head did not start ({err}); its output:\n{tail}") from err
                time.sleep(1.0)

    def stop(self) -> None:
        """End the head's whole session and remove its temp dir."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    _kill_session(self.proc.pid, grace_s=0)
                    self.proc.wait()
            self.proc = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _kill_session(sid: int, grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, every process of session ``sid`` except the caller."""
    def members() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.pid != os.getpid() and os.getsid(proc.pid) == sid:
                    found.append(proc)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return found

    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        procs = members()
        for proc in procs:
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=wait)


def _watch_head(temp_dir: str, argv: list[str]) -> int:
    """Watchdog main: run ``ray start --block``; on SIGTERM or its exit, end every process of this session and
    remove ``temp_dir`` (the head's token with it, also when the driver was killed and cannot clean up)."""
    def finish(*_: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once is enough; a second SIGTERM must not interrupt this
        _kill_session(os.getsid(0))
        shutil.rmtree(temp_dir, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    proc = subprocess.Popen(argv)
    proc.wait()
    finish()
    return 0


def make_ray_executor(cluster: Mapping) -> RayJobExecutor:
    """The executor for a ``ray`` profile (existing cluster at ``cluster.address``) or ``ray_local`` (own head).

    ``cluster.address`` for ``ray``: the dashboard URL (``http://head:8265``), or ``auto`` / ``<ip>:6379`` when
    the driver runs on a cluster node (Ray looks the dashboard up). ``RAY_ADDRESS`` in the environment wins, as
    everywhere in Ray. The cluster is contacted here, so a missing or wrong token stops the run before any stage.
    """
    kind = cluster.get("kind")
    if kind == "ray":
        address = cluster.get("address")
        if not address:
            raise ValueError("cluster.address is required for cluster=ray, e.g. cluster.address=http://head:8265")
        return RayJobExecutor(cluster, str(address), name="ray")
    if kind == "ray_local":
        if cluster.get("auth_token_file"):
            raise ValueError(f"{TOKEN_FILE_KEY} is for cluster=ray; cluster=ray_local starts its own head with a "
                             "token made for the run")
        for var in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):  # Ray's client would follow it, not our head
            if os.environ.get(var):
                raise ValueError(f"{var}={os.environ[var]} is set: Ray would send cluster=ray_local's jobs (and its "
                                 f"token) to that cluster instead of the run's own head; unset {var}")
        gpus = cluster.get("gpus_per_node")
        head = LocalRayHead(num_cpus=cluster.get("cpus_per_node"), num_gpus=None if gpus is None else int(gpus))
        address = head.start()
        try:
            return RayJobExecutor(cluster, address, name="ray_local", head=head)
        except BaseException:
            head.stop()
            raise
    raise ValueError(f"make_ray_executor: cluster.kind must be ray or ray_local, got {kind!r}")


if __name__ == "__main__" and sys.argv[1:2] == ["head"]:
    sys.exit(_watch_head(sys.argv[2], sys.argv[3:]))
