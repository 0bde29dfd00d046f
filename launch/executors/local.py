"""Where a stage's heavy work runs: one command per stage, a subprocess here or a Ray job on a cluster.

The driver never trains in-process; it hands every stage to an executor as a :class:`StageJob` (argv + env +
cwd + log file), so the same plan runs on a laptop and on a cluster. ``make_executor`` picks the executor from
the recipe's ``cluster`` profile; the Ray executors live in ``launch.executors.ray`` and are imported only when
a profile asks for them.

Progress: ``run(job, on_line=...)`` calls ``on_line`` with every line the backend prints (carriage-return
updates of progress bars count as lines), so the driver can show the backend's own progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from launch.executors.processes import die_with_parent, stream_lines
from launch.stage import Executor, OnLine, StageFailed, StageJob


class LocalExecutor:
    """Runs each stage as a subprocess of this machine, in its own process group.

    ``nnodes > 1`` is refused: several nodes need a cluster profile (``cluster=ray``). The child dies with the
    driver (prctl PDEATHSIG on Linux), so a killed driver leaves no training behind that would race a rerun.
    """

    name = "local"

    def __init__(self, cluster: Mapping | None = None) -> None:
        self.cluster = dict(cluster or {})
        self._proc: subprocess.Popen | None = None

    def run(self, job: StageJob, on_line: OnLine | None = None) -> int:
        if job.nnodes > 1:
            raise StageFailed(job.stage, None, f"nnodes={job.nnodes} needs a cluster profile; use cluster=ray")
        env = {**os.environ, **job.env}
        Path(job.log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(job.log_path, "ab") as log:
            log.write(f"$ {' '.join(job.argv)}\n".encode())
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    job.argv, cwd=job.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
                )
            except FileNotFoundError as err:
                hint = f"command {job.argv[0]!r} not found ({err}); is the virtualenv's bin on PATH?"
                raise StageFailed(job.stage, job.log_path, hint) from err
            stream_lines(self._proc.stdout, log, on_line)
            code = self._proc.wait()
            self._proc = None
            return code

    def cancel(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def close(self) -> None:
        self.cancel()


def make_executor(cluster: Mapping) -> Executor:
    """The executor for a cluster profile: ``kind`` local here, ray / ray_local from ``launch.executors.ray``."""
    kind = cluster.get("kind", "local")
    if kind == "local":
        return LocalExecutor(cluster)
    if kind in ("ray", "ray_local"):
        from launch.executors.ray import make_ray_executor

        return make_ray_executor(cluster)
    raise ValueError(f"unknown cluster kind {kind!r} in the cluster profile; expected local, ray or ray_local")
