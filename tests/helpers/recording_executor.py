"""An executor that plays the backends for driver tests: it writes what a successful stage leaves, and no more."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from launch.executor import StageJob


class RecordingExecutor:
    """Plays the backends: writes the output a successful stage leaves, or fails the stages named in ``fail``."""

    name = "recording"

    def __init__(self, fail: set[str] = frozenset(), silent: set[str] = frozenset()) -> None:
        self.ran: list[str] = []
        self.fail, self.silent = fail, silent

    def run(self, job: StageJob, on_line=None) -> int:
        self.ran.append(job.stage)
        if job.stage in self.fail:
            return 2
        if job.stage in self.silent:
            return 0
        stage_dir = Path(job.log_path).parent
        config = yaml.safe_load((stage_dir / "config.yaml").read_text())
        out = stage_dir / "output"
        out.mkdir(parents=True, exist_ok=True)
        if job.stage == "eval":
            (out / "report.json").write_text(json.dumps({"summary": {"model": config["model"]}}))
            return 0
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_text(json.dumps(config, sort_keys=True, default=str))
        key = "reward" if "trainer" in config else "loss"
        (out / "trainer_state.json").write_text(json.dumps({"log_history": [{key: 0.5, "step": 1}]}))
        return 0

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass
