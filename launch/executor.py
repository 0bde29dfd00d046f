"""Where a stage's heavy work runs: one command per stage, a subprocess here or a Ray job on a cluster.

The driver never trains in-process; it hands every stage to an executor as a :class:`StageJob` (argv + env +
cwd + log file), so the same plan runs on a laptop and on a cluster. ``make_executor`` picks the executor from
the recipe's ``cluster`` profile; the Ray executors live in ``launch.ray_executor`` and are imported only when
a profile asks for them.

Progress: ``run(job, on_line=...)`` calls ``on_line`` with every line the backend prints (carriage-return
updates of progress bars count as lines), so the driver can show the backend's own progress.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class StageJob:
    """One stage's command and the resources it needs; the executor appends its output to ``log_path``."""

    stage: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_path: str
    num_gpus: int = 0
    num_cpus: int = 1
    nnodes: int = 1
    multinode: str = "torchrun"


class StageFailed(RuntimeError):
    """A stage could not finish; the message names the stage, the file to look at and what to do."""

    def __init__(self, stage: str, path: str | Path | None, hint: str) -> None:
        self.stage, self.path, self.hint = stage, str(path) if path else None, hint
        where = f" (see {path})" if path else ""
        super().__init__(f"stage {stage!r} failed{where}: {hint}")


class Executor(Protocol):
    name: str

    def run(self, job: StageJob, on_line: OnLine | None = None) -> int: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In the child before exec: own session and process group, and ``sig`` when the parent dies (Linux prctl)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, sig)


class LineSplitter:
    """Hands each non-blank line of a text stream (``\\n`` or ``\\r`` terminated) to ``on_line``.

    Carriage-return updates of progress bars count as lines; text after the last terminator waits for more.
    """

    def __init__(self, on_line: OnLine) -> None:
        self.on_line, self.pending = on_line, ""

    def feed(self, text: str) -> None:
        *lines, self.pending = (self.pending + text).replace("\r", "\n").split("\n")
        for line in lines:
            if line.strip():
                self.on_line(line)

    def close(self) -> None:
        """The unterminated rest, if any, is a line too."""
        if self.pending.strip():
            self.on_line(self.pending)
        self.pending = ""


def stream_lines(stream, sink, on_line: OnLine | None) -> None:
    """Copy a child's binary output to ``sink`` and hand each line (see :class:`LineSplitter`) to ``on_line``."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    lines = LineSplitter(on_line) if on_line is not None else None
    while chunk := stream.read1(65536):
        sink.write(chunk)
        sink.flush()
        if lines is not None:
            lines.feed(decoder.decode(chunk))
    if lines is not None:
        lines.feed(decoder.decode(b"", final=True))
        lines.close()


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
    """The executor for a cluster profile: ``kind`` local here, ray / ray_local from ``launch.ray_executor``."""
    kind = cluster.get("kind", "local")
    if kind == "local":
        return LocalExecutor(cluster)
    if kind in ("ray", "ray_local"):
        from launch.ray_executor import make_ray_executor

        return make_ray_executor(cluster)
    raise ValueError(f"unknown cluster kind {kind!r} in the cluster profile; expected local, ray or ray_local")
