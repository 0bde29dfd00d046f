"""The run directory: one folder per run, one per stage, and the markers that make reruns resume.

Layout of ``<run>/<stage>/``::

    config.yaml   the rendered backend config (what the backend reads)
    data/         the stage dataset + manifest.json (converters.stages)
    stage.log     the backend's stdout/stderr (appended on every attempt)
    output/       the stage's model in Hugging Face format (the next stage's input)
    STARTED       JSON {fingerprint, pid, started}: an attempt began with these inputs
    DONE          JSON {fingerprint, results}: written last, atomically, only after a verified success

A stage is skipped when its DONE fingerprint equals the planned one. The fingerprint hashes the stage's
resolved settings (rendered config with the run directory abstracted, data spec, source-file stamps, code
stamps) and the previous stage's fingerprint, so a change anywhere upstream invalidates everything after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DONE = "DONE"
STARTED = "STARTED"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


def fingerprint(parts: Mapping[str, Any], run_dir: Path | None = None, stage_dir: Path | None = None) -> str:
    """sha256 of ``parts`` as canonical JSON, with the stage folder's path replaced by ``<stage>`` and then the run
    folder's by ``<run>``: the same work gets the same fingerprint in any run folder and under any stage name (an
    ablation's final evaluation of the SA checkpoint is the full run's evaluation of it)."""
    text = canonical_json(parts)
    for path, placeholder in ((stage_dir, "<stage>"), (run_dir, "<run>")):
        if path is not None:  # whole path components only: <run>/eval is not a prefix of <run>/eval_sa
            text = re.sub(re.escape(str(path)) + r'(?=[/"])', placeholder, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def files_stamp(paths: Iterable[Path]) -> list[list[Any]]:
    """(name, size, sha256) of each file under ``paths``, named relative to its root (a file root by its own name):
    a change detector that follows content only, so a model converted again, a fresh clone or a copied data folder
    (new modification times, other locations, the same bytes) does not make finished stages run again."""
    stamp = []
    for root in paths:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.exists():
                st = path.stat()
                name = path.relative_to(root).as_posix() if root.is_dir() else path.name
                with path.open("rb") as fh:
                    stamp.append([name, st.st_size, hashlib.file_digest(fh, "sha256").hexdigest()])
    return stamp


def atomic_write_json(path: Path, value: Any) -> None:
    """Write JSON through a temp file + os.replace, so readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """A marker's content, or None when absent or unreadable (a torn marker counts as absent)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def done_fingerprint(stage_dir: Path) -> str | None:
    marker = read_json(stage_dir / DONE)
    return marker.get("fingerprint") if marker else None


def write_done(stage_dir: Path, fp: str, results: Mapping[str, Any]) -> None:
    atomic_write_json(stage_dir / DONE, {"fingerprint": fp, "results": dict(results), "finished": time.time()})


def mark_started(stage_dir: Path, fp: str) -> None:
    atomic_write_json(stage_dir / STARTED, {"fingerprint": fp, "pid": os.getpid(), "started": time.time()})


def started_fingerprint(stage_dir: Path) -> str | None:
    marker = read_json(stage_dir / STARTED)
    return marker.get("fingerprint") if marker else None


def reset_stage_dir(stage_dir: Path) -> None:
    """Empty a stage folder for a fresh attempt with new inputs (nothing of the old attempt is reused). A stage
    folder that links to another run's stage (``launch.reuse``) is unlinked, never emptied."""
    if stage_dir.is_symlink():
        stage_dir.unlink()
    elif stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)


def output_sha256(folder: Path) -> str:
    """sha256 over the relative paths and contents of every file under ``folder`` (a stage's output: its model
    weights, or an eval report), recorded in DONE so that a stage reused by another run can be verified."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def names_path(arg: bytes, directory: bytes) -> bool:
    """Whether one command-line argument names ``directory`` or a path inside it: the argument itself, or its
    value after ``=`` or ``:`` (``config=<dir>/config.yaml``). ``<run>/cm_ner`` does not name ``<run>/cm_ner_re``."""
    start = arg.find(directory)
    while start >= 0:
        end = start + len(directory)
        if (start == 0 or arg[start - 1:start] in (b"=", b":")) and arg[end:end + 1] in (b"", b"/"):
            return True
        start = arg.find(directory, start + 1)
    return False


def leftover_groups(stage_dir: Path) -> list[int]:
    """Process groups still running a command of this stage (a driver killed without its children).

    A group counts when its leader has a command-line argument naming ``stage_dir`` or a path inside it (see
    ``names_path``), so neither an unrelated process that reused the id nor another stage whose folder name extends
    this one (``cm_ner`` vs ``cm_ner_re``) is ever included; nor is this process's own group.
    """
    groups = []
    directory = str(Path(stage_dir)).encode()  # Path drops a trailing "/"
    proc = Path("/proc")
    if not proc.is_dir():
        return groups
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            pgid = os.getpgid(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
        if pgid == int(entry.name) and pgid != os.getpgid(0) and any(names_path(a, directory) for a in args):
            groups.append(pgid)
    return groups


def stop_leftover_processes(stage_dir: Path) -> list[int]:
    """SIGKILL the ``leftover_groups`` of this stage; returns the killed group ids."""
    killed = []
    for pgid in leftover_groups(stage_dir):
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
        except ProcessLookupError:
            pass
    return killed
