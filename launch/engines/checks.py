"""What the checks that run INSIDE an engine's environment share (``launch.engines.easyr1_check``,
``launch.engines.verl_check``).

Standard library only: the engines' environments have none of ProUIE's dependencies. A check prints one JSON
report on the last line of stdout, ``{"checked": [...], "problems": [...], ...}``, read by
``launch.engines.environment.run_check``; any problem makes the exit status 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

PROMPTS_SHOWN = 3  # model inputs of the first rows, as the engine builds them, for the driver's byte comparison
Step = tuple[bool, str, Callable[[Any], dict[str, Any]]]


def read_probe(path: str) -> list[dict[str, Any]]:
    """The rows of a reward probe (``launch.engines.reward_probe``): response, ground_truth, expected."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def score_problems(engine: str, rows: list[dict[str, Any]], got: list[Mapping[str, Any]],
                   key_of: Callable[[str], str] = str) -> list[str]:
    """Every direct score of the probe against the engine's (``key_of`` maps our key to the engine's name)."""
    problems = []
    for i, (row, scores) in enumerate(zip(rows, got)):
        for key, expected in row["expected"].items():
            value = scores.get(key_of(key))
            if value is None or not math.isclose(float(value), float(expected), rel_tol=0, abs_tol=1e-12):
                problems.append(f"reward probe row {i}: {key} = {value} through {engine}, {expected} directly")
    if len(got) != len(rows):
        problems.append(f"{engine} returned {len(got)} scores for {len(rows)} probe rows")
    return problems


def run_checks(engine: str, load: Callable[[], Any], config_label: str, steps: list[Step]) -> int:
    """Load the config with the engine's machinery, run the enabled steps, print the report; the exit status.

    A step returns a mapping: its ``problems`` (a list) are reported, any other keys go into the report as they are.
    """
    report: dict[str, Any] = {"checked": [], "problems": []}
    try:
        config = load()
    except Exception as err:  # noqa: BLE001  (any rejection by the engine is the finding)
        report["problems"].append(f"{engine} rejects the config: {type(err).__name__}: {err}")
    else:
        report["checked"].append(config_label)
        for enabled, label, step in steps:
            if enabled:
                found = dict(step(config))
                report["problems"] += found.pop("problems", [])
                report.update(found)
                report["checked"].append(label)
    print(json.dumps(report))
    return 1 if report["problems"] else 0
