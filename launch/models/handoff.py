"""The model hand-off between environments: normalise the folder, then prove it is the same model on both sides.

A stage's input model was written by another Python environment when the previous stage ran elsewhere (SFT in
the main environment with transformers 5.6 -> DE in EasyR1's with 4.57 or verl's with another 5.x -> eval in the
main one again). Before such a stage starts, the driver

1. normalises the input folder when it is a previous stage's output (``launch.models.hf_compat``; a user's base model
   folder is never edited), then
2. runs ``launch.models.probe`` in the writing and in the reading environment and compares: the same token ids
   and special tokens, and fp32 logits within ``TOLERANCE``. Any difference stops the run with a message that
   names the model, both environments and the largest difference.

The report is written to ``<stage>/handoff.json``; a resumed attempt of the same stage does not check again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from launch.engines.environment import REPO_ROOT, backend_env
from launch.models import hf_compat
from launch.stage import StageFailed, StagePlan

TOLERANCE = 1e-4
REPORT = "handoff.json"
PROBE_TIMEOUT_S = 3600


def _probe(python: str, model_dir: str, out: Path, threads: int) -> dict[str, Any]:
    """Run launch.models.probe in one environment; returns its tensors and metadata."""
    from safetensors import safe_open

    try:
        proc = subprocess.run([python, "-m", "launch.models.probe", model_dir, str(out)], cwd=REPO_ROOT,
                              env={**os.environ, **backend_env(threads, python)}, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"loading it took longer than {PROBE_TIMEOUT_S} s"}
    if proc.returncode != 0:
        return {"error": (proc.stdout + proc.stderr).strip()[-2000:]}
    with safe_open(str(out), framework="pt") as f:
        return {"meta": f.metadata(), "tensors": {key: f.get_tensor(key) for key in f.keys()}}


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], float]:
    """Differences between two probes (empty when they agree) and the largest absolute logit difference."""
    problems, worst = [], 0.0
    if a["meta"]["special"] != b["meta"]["special"]:
        problems.append(f"special tokens differ: {a['meta']['special']} vs {b['meta']['special']}")
    for key in sorted(k for k in a["tensors"] if k.startswith("ids_")):
        i = key.split("_")[1]
        if not a["tensors"][key].equal(b["tensors"][key]):
            problems.append(f"input {i} tokenises differently: {a['tensors'][key].tolist()[:12]}... vs "
                            f"{b['tensors'][key].tolist()[:12]}...")
            continue
        diff = float((a["tensors"][f"logits_{i}"] - b["tensors"][f"logits_{i}"]).abs().max())
        worst = max(worst, diff)
        if not diff <= TOLERANCE:
            problems.append(f"input {i}: logits differ by up to {diff:.3g} (tolerance {TOLERANCE})")
    return problems, worst


def check_same_model(stage: str, model_dir: str, writer: str, reader: str, threads: int = 1) -> dict[str, Any]:
    """Probe ``model_dir`` with both interpreters; raises :class:`StageFailed` unless they agree."""
    with tempfile.TemporaryDirectory(prefix="prouie-handoff-") as tmp:
        probes = {python: _probe(python, model_dir, Path(tmp) / f"{i}.safetensors", threads)
                  for i, python in enumerate((writer, reader))}
    for python, result in probes.items():
        if "error" in result:
            raise StageFailed(stage, model_dir, f"the model does not load in the environment of {python}: "
                                                f"{result['error']}")
    problems, worst = compare(probes[writer], probes[reader])
    versions = {python: probes[python]["meta"]["transformers"] for python in (writer, reader)}
    if problems:
        raise StageFailed(stage, model_dir,
                          f"the model is not the same in the environment that wrote it ({writer}, transformers "
                          f"{versions[writer]}) and in the one that reads it next ({reader}, transformers "
                          f"{versions[reader]}): {'; '.join(problems)}. Nothing was trained on it. If the folder "
                          f"is yours, `python -m launch.models.hf_compat <folder>` normalises what is known to differ")
    return {"model": model_dir, "writer": writer, "reader": reader, "transformers": versions,
            "max_logit_difference": worst, "tolerance": TOLERANCE}


def ensure_handoff(stage: StagePlan, stages: Sequence[StagePlan]) -> dict[str, Any] | None:
    """Normalise and check ``stage``'s input model when another environment wrote it (``stages``: the plan's, one
    of them wrote it); None when none did."""
    previous = next((s for s in stages if s.name == stage.input_stage), None)
    writer = previous.python if previous is not None else sys.executable
    if Path(writer) == Path(stage.python):
        return None
    report_path = stage.stage_dir / REPORT
    if report_path.is_file():
        return json.loads(report_path.read_text(encoding="utf-8"))
    changed = hf_compat.normalise(stage.input_model) if previous is not None else []
    report = {**check_same_model(stage.name, stage.input_model, writer, stage.python, stage.threads),
              "normalised": changed}
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
