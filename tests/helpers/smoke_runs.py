"""Helpers for tests that run the smoke pipeline and compare run folders."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAINING_STAGES = ["cm_ner", "cm_ner_re", "cm_all", "sa", "de_ner", "de_re", "de_ee"]
EVAL_STAGES = ["eval_base", "eval_cm_all", "eval_sa", "eval"]  # the smoke recipe's pipeline.eval.models


def smoke_pipeline_argv(run_dir: Path, *overrides: str) -> list[str]:
    """The README's main command on the smoke recipe, into ``run_dir``."""
    return [sys.executable, str(REPO / "launch" / "run_pipeline.py"), "+experiment=smoke",
            f"pipeline.run_dir={run_dir}", *overrides]


def weights_sha(stage_dir: Path) -> str:
    return hashlib.sha256((stage_dir / "output" / "model.safetensors").read_bytes()).hexdigest()


def done(stage_dir: Path) -> dict:
    return json.loads((stage_dir / "DONE").read_text())
