"""A reward probe: responses, gold answers and the scores a direct call of ``rewards.sfr`` gives them.

An engine check (``launch.engines.easyr1_check`` / ``launch.engines.verl_check``, inside the engine's environment)
loads the reward file through the engine's own loader, scores the same responses and must get exactly these numbers.
The records are the stage's own data when it is built, else the first bundled records of the stage's task (so
the dry run checks the reward too). Per record: the gold target (a perfect answer), no answer, another record's
target (a wrong one) and the gold target cut in half (unparsable or partial).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launch.stage import StagePlan

PROBE_RECORDS = 3


def _data_answers(stage: StagePlan) -> list[str]:
    path = stage.data_dir / "train.jsonl"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as rows:
        return [json.loads(line)["answer"] for line in itertools.islice(rows, PROBE_RECORDS)]


def _bundled_answers(task: str) -> list[str]:
    from converters.bundled import BUNDLED
    from converters.readers import read_source
    from converters.stages import resolve_spec

    name = next(n for n, entry in BUNDLED.items() if entry["task"] == task)
    records = read_source(resolve_spec({"bundled": name, "split": "train"}))
    return [json.dumps(rec, ensure_ascii=False) for rec in itertools.islice(records, PROBE_RECORDS)]


def probe_rows(stage: StagePlan, reward_kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Probe rows for one GRPO stage: ``response``, ``ground_truth`` and ``expected`` (the direct SFR scores)."""
    from converters.format import render_target
    from rewards.inputs import config_from_kwargs, gold_from_answer
    from rewards.sfr import score_response

    answers = _data_answers(stage) or _bundled_answers(stage.data["task"])
    style, profile = stage.data["style"], stage.data["profile"]
    targets = [render_target(json.loads(a), style, profile) for a in answers]
    config = config_from_kwargs(dict(reward_kwargs))
    rows = []
    for i, answer in enumerate(answers):
        wrong = targets[(i + 1) % len(targets)]
        for response in (targets[i], "", wrong, targets[i][: len(targets[i]) // 2]):
            expected = score_response(response, gold_from_answer(answer), config).as_dict()
            rows.append({"response": response, "ground_truth": answer, "expected": expected})
    return rows


def write_probe(stage: StagePlan, reward_kwargs: Mapping[str, Any], path: Path) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in probe_rows(stage, reward_kwargs)),
                    encoding="utf-8")
    return path
