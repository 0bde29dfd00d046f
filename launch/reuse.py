"""Stages shared by content: a stage whose fingerprint equals one already finished elsewhere is linked, not rerun.

A fingerprint covers everything that decides a stage's result (config, data request, source files, code, the
previous stage's fingerprint) with the run and stage folders abstracted, so two runs that share a prefix of
stages (an ablation and the full run; the variants of a study; a rerun of the paper's Table 5 next to an earlier
main run) compute the same fingerprints for it. ``pipeline.reuse`` names earlier run folders to look in; a study
adds the folders of its variants. A stage found there is checked before anything builds on it (its DONE marker
has the fingerprint; its output still has the sha256 recorded when it finished) and then *referenced*: the stage
folder becomes a symbolic link to the finished one, so no checkpoint is copied. The driver never writes into a
linked folder: a stage that must run again unlinks it first (``run_dir.reset_stage_dir``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from launch.run_dir import DONE, output_sha256, read_json
from launch.stage import OUTPUT


def finished_stages(run_dirs: Iterable[str | Path]) -> dict[str, Path]:
    """``fingerprint -> the real folder of a finished stage`` in ``run_dirs`` (links followed; the first wins)."""
    found: dict[str, Path] = {}
    for run in run_dirs:
        run = Path(run).expanduser()
        if not run.is_dir():
            continue
        for stage_dir in sorted(run.iterdir()):
            marker = read_json(stage_dir / DONE) if stage_dir.is_dir() else None
            fp = marker.get("fingerprint") if marker else None
            if isinstance(fp, str):
                found.setdefault(fp, stage_dir.resolve())
    return found


def verified(source: Path, fingerprint: str) -> bool:
    """Whether ``source`` is a finished stage with ``fingerprint`` whose output is what it was when it finished."""
    marker = read_json(source / DONE)
    if not marker or marker.get("fingerprint") != fingerprint:
        return False
    recorded = (marker.get("results") or {}).get("output_sha256")
    return isinstance(recorded, str) and (source / OUTPUT).is_dir() and output_sha256(source / OUTPUT) == recorded


def link_stage(stage_dir: Path, source: Path) -> None:
    """Make ``stage_dir`` a link to the finished ``source`` (an unfinished attempt in its place is dropped)."""
    from launch.run_dir import reset_stage_dir

    reset_stage_dir(stage_dir)
    stage_dir.rmdir()
    stage_dir.symlink_to(source.resolve(), target_is_directory=True)
