"""What a Hugging Face Trainer (LLaMA-Factory SFT, TRL GRPO) leaves in its output folder, and how to resume it.

Both backends save ``checkpoint-<step>/`` folders while training and the final model at the top of
``output_dir``. An interrupted stage resumes from its last *complete* checkpoint (one whose trainer state was
written, which the Trainer does last); a checkpoint torn by a kill is removed first.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
MODEL_FILES = ("config.json",)


def checkpoints(output_dir: Path) -> list[Path]:
    """``checkpoint-<step>`` folders, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.iterdir() if p.is_dir() and _CHECKPOINT.match(p.name)]
    return sorted(found, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)))


def _complete(checkpoint: Path) -> bool:
    return (checkpoint / "trainer_state.json").is_file() and any(checkpoint.glob("rng_state*.pth"))


def prepare_resume(output_dir: Path) -> Path | None:
    """Make ``output_dir`` resumable: drop torn checkpoints, and everything when no complete one is left.

    Returns the checkpoint training will resume from, or None for a fresh start (the folder is then empty,
    so LLaMA-Factory does not refuse a non-empty output folder).
    """
    for ckpt in checkpoints(output_dir):
        if not _complete(ckpt):
            shutil.rmtree(ckpt)
    kept = checkpoints(output_dir)
    if not kept and output_dir.exists():
        shutil.rmtree(output_dir)
    return kept[-1] if kept else None


def remove_checkpoints(output_dir: Path) -> None:
    for ckpt in checkpoints(output_dir):
        shutil.rmtree(ckpt)


def has_model(output_dir: Path) -> bool:
    """A loadable Hugging Face model folder: config plus safetensors weights."""
    return (output_dir / "config.json").is_file() and any(output_dir.glob("*.safetensors"))


def trainer_log(output_dir: Path) -> list[dict[str, Any]]:
    """The Trainer's ``log_history`` (trainer_state.json at the top of the output folder), or []."""
    path = output_dir / "trainer_state.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text(encoding="utf-8")).get("log_history", [])


def last_value(log: list[dict[str, Any]], key: str) -> float | None:
    values = [entry[key] for entry in log if key in entry]
    return float(values[-1]) if values else None


def mean_value(log: list[dict[str, Any]], key: str) -> float | None:
    values = [float(entry[key]) for entry in log if key in entry]
    return sum(values) / len(values) if values else None
