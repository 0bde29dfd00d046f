"""A GRPO stage's reward per completion, and what it says when prompts come back: does the model do better on the
same prompt the next time it sees it?

The per-step mean reward (``grpo_curves``) mixes training with *which* prompts a step drew: at a few groups a step
the draw dominates (docs/de/NOTES.md). With more than one epoch every prompt is seen again, so the reward of a
prompt's last visit minus that of its first visit is a paired measurement, free of the draw. ``RecordedReward``
wraps the reward function TRL calls and appends one JSON line per completion to ``rewards.jsonl`` in the stage
folder (the optimizer step it trains, the record id, the reward); ``prompt_trend`` reads them back.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

RECORDS_NAME = "rewards.jsonl"


class RecordedReward:
    """``func`` as TRL calls it, with each completion's reward appended to ``path``.

    The step is the optimizer step the batch trains (``trainer_state.global_step`` + 1: TRL scores a batch before
    the step that uses it); the id is the record's (the GRPO data's ``extra_info.id``), so the copies of an
    oversampled record count as the same prompt. TRL logs a reward under its function's ``__name__``: kept."""

    def __init__(self, func: Callable[..., list[float]], path: Path) -> None:
        self.func, self.path = func, Path(path)
        self.__name__ = func.__name__

    def __call__(self, *, completions: Sequence[Any], trainer_state: Any = None,
                 extra_info: Sequence[Mapping[str, Any]] | None = None, **kwargs: Any) -> list[float]:
        rewards = self.func(completions=completions, **kwargs)
        if trainer_state is not None and extra_info is not None:
            step = int(trainer_state.global_step) + 1
            with self.path.open("a", encoding="utf-8") as out:
                out.writelines(json.dumps({"step": step, "id": info["id"], "reward": float(reward)}) + "\n"
                               for info, reward in zip(extra_info, rewards, strict=True))
        return rewards


def start(path: Path, resume_step: int | None) -> None:
    """Before training: keep the records of the steps a resumed run will not redo (those up to its checkpoint's
    step), none for a fresh start, so a step interrupted and rerun is recorded once."""
    kept = [line for line in read(path) if resume_step is not None and line["step"] <= resume_step]
    path.write_text("".join(json.dumps(line) + "\n" for line in kept), encoding="utf-8")


def read(path: Path) -> list[dict[str, Any]]:
    """The records of ``path`` (none when the stage wrote none); a line cut short by a crash is dropped."""
    if not path.is_file():
        return []
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return lines


def visits(records: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Per prompt id, its mean reward at each visit (each step it appeared in), in step order."""
    by_step: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for line in records:
        by_step[str(line["id"])][int(line["step"])].append(float(line["reward"]))
    return {pid: [fmean(steps[s]) for s in sorted(steps)] for pid, steps in by_step.items()}


def paired_t_interval(diffs: Sequence[float], level: float = 0.95) -> list[float] | None:
    """Student's t interval for the mean of paired differences; None with fewer than two, or no spread (an
    interval of zero width would claim a certainty the data cannot give)."""
    from scipy.stats import t

    if len(diffs) < 2 or stdev(diffs) == 0:
        return None
    half = float(t.ppf(0.5 + level / 2, len(diffs) - 1)) * stdev(diffs) / math.sqrt(len(diffs))
    return [fmean(diffs) - half, fmean(diffs) + half]


def prompt_trend(records: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Mean over prompts of (reward at the last visit - reward at the first), with its paired 95 % t interval over
    prompts, and the mean reward at each visit (over the prompts visited that often); None when no prompt was seen
    twice (one epoch)."""
    seen = [rewards for rewards in visits(records).values() if len(rewards) >= 2]
    if not seen:
        return None
    diffs = [rewards[-1] - rewards[0] for rewards in seen]
    depth = max(len(rewards) for rewards in seen)
    return {"prompts": len(seen), "first_mean": fmean(r[0] for r in seen), "last_mean": fmean(r[-1] for r in seen),
            "gain": fmean(diffs), "gain_ci95": paired_t_interval(diffs),
            "visit_means": [fmean(r[v] for r in seen if len(r) > v) for v in range(depth)],
            "interval": "paired t over prompts: last visit minus first visit"}
