"""An executor that plays the backends for driver tests: it writes what a successful stage leaves, and no more."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from launch.stage import StageJob


class RecordingExecutor:
    """Plays the backends: writes the output a successful stage leaves, or fails the stages named in ``fail``.

    ``ran`` lists the stage names it ran, ``ran_in`` the stage folders (a study runs the same stage name in
    several run folders)."""

    name = "recording"

    def __init__(self, fail: set[str] = frozenset(), silent: set[str] = frozenset()) -> None:
        self.ran: list[str] = []
        self.ran_in: list[Path] = []
        self.fail, self.silent = fail, silent

    def run(self, job: StageJob, on_line=None) -> int:
        stage_dir = Path(job.log_path).parent
        self.ran.append(job.stage)
        self.ran_in.append(stage_dir)
        if job.stage in self.fail or str(stage_dir) in self.fail:
            return 2
        if job.stage in self.silent:
            return 0
        config = yaml.safe_load((stage_dir / "config.yaml").read_text())
        out = stage_dir / "output"
        out.mkdir(parents=True, exist_ok=True)
        if job.stage.startswith("eval"):  # what eval/run_benchmark.py writes, in the fields the driver reads
            (out / "report.json").write_text(json.dumps({"model": config["model"], "benchmark": "smoke",
                                                         "recipe_hash": config.get("recipe_hash"),
                                                         "averages": {"ner/strict": 0.5}, "datasets": [],
                                                         "length_unit": "tokens", "lengths": {}}))
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
