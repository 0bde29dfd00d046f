"""SFR throughput on realistic responses, against ``json.loads`` on the same responses in the same run.

Responses are built from every bundled record: the rendered gold (CM and SA targets) and perturbed gold (a unit
dropped, a wrong unit added, a type swapped, the JSON truncated). The script pins itself to one CPU core and
prints, per task, rewards/s of the core scorer, the ratio of its time to ``json.loads`` alone, and the ratio of
the EasyR1 batch adapter (decoding ``ground_truth`` strings, as in training) to the core.

Targets (issue 4): >= 20,000 rewards/s per task on one core, <= 10x json.loads, adapters ~1x the core.

The ``paper`` profile (a space between values) is measured on request: its parser must search the cuts.

    python benchmarks/bench_rewards.py [--repeat 15] [--profile default --profile paper]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converters.bundled import BUNDLED, bundled_records  # noqa: E402
from converters.format import render_target, render_units  # noqa: E402
from converters.records import Event, Units, gold_units, schema_of  # noqa: E402
from rewards import easyr1  # noqa: E402
from rewards.config import RECIPE_PATH, load_sfr_config  # noqa: E402
from rewards.inputs import gold_from_answer  # noqa: E402
from rewards.sfr import score_response  # noqa: E402


def _perturb(record: dict[str, Any], profile: str, rng: random.Random) -> str:
    """The gold target with one realistic mistake."""
    units, schema = gold_units(record), schema_of(record)
    items = list(units.items)
    words = record["text"].split()
    labels = list(schema.slots)
    kind = rng.choice(("drop", "add", "retype", "truncate"))
    if kind == "drop" and items:
        items.pop(rng.randrange(len(items)))
    elif kind == "add" or not items:
        span = " ".join(words[rng.randrange(len(words)):][:2])
        if record["task"] == "ner":
            items.append((rng.choice(labels), span))
        elif record["task"] == "re":
            items.append((rng.choice(labels), span, rng.choice(words)))
        else:
            items.append(Event(rng.choice(labels), span, ((schema.roles[0], rng.choice(words)),)))
    elif kind == "retype":
        i = rng.randrange(len(items))
        item = items[i]
        items[i] = replace(item, type=rng.choice(labels)) if isinstance(item, Event) else (rng.choice(labels),
                                                                                          *item[1:])
    text = render_units(Units.of(units.task, items), schema, rng.choice(("cm", "sa")), profile)
    return text[: max(1, len(text) * 2 // 3)] if kind == "truncate" else text


def _responses(task: str, profile: str, rng: random.Random) -> list[tuple[str, str]]:
    """(response, ground_truth JSON) pairs for every bundled record of ``task``."""
    pairs = []
    for name, entry in BUNDLED.items():
        if entry["task"] != task:
            continue
        for split in entry["splits"]:
            for record in bundled_records(name, split):
                answer = json.dumps(record, ensure_ascii=False)
                responses = [render_target(record, style, profile) for style in ("cm", "sa")]
                responses += [_perturb(record, profile, rng) for _ in range(2)]
                pairs += [(response, answer) for response in responses]
    return pairs


def _json_loads(text: str) -> Any:
    """The baseline: what reading the response as JSON alone costs (truncated ones fail fast)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _best_times(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best CPU time of each function (this process only, so other processes' load counts little), interleaved."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.process_time()
            fn()
            best[i] = min(best[i], time.process_time() - start)
    return best


def _measure(task: str, profile: str, repeat: int, rng: random.Random) -> str:
    """One result line: responses, rewards/s, time / json.loads time, EasyR1 adapter time / core time."""
    config = load_sfr_config(RECIPE_PATH, profile=profile)
    pairs = _responses(task, profile, rng)
    golds = [gold_from_answer(a) for _, a in pairs]  # warm the gold cache, as after a training step's first use
    batch = [{"response": r, "response_length": len(r), "ground_truth": a} for r, a in pairs]
    easyr1.compute_score(batch[:1], profile=profile)
    t_json, t_core, t_easyr1 = _best_times([
        lambda: [_json_loads(r) for r, _ in pairs],
        lambda: [score_response(r, g, config) for (r, _), g in zip(pairs, golds)],
        lambda: easyr1.compute_score(batch, profile=profile),
    ], repeat)
    return (f"{task:5} {profile:8} {len(pairs):>9} {len(pairs) / t_core:>10,.0f} {t_core / t_json:>12.1f} "
            f"{t_easyr1 / t_core:>13.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timing repeats; the best run is reported")
    parser.add_argument("--profile", action="append", choices=("default", "paper"),
                        help="format profile(s) to measure (default: default)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"{'task':5} {'profile':8} {'responses':>9} {'rewards/s':>10} {'x json.loads':>12} {'easyr1 / core':>13}")
    for profile in args.profile or ["default"]:
        for task in ("ner", "re", "ee"):
            print(_measure(task, profile, args.repeat, random.Random(0)), flush=True)


if __name__ == "__main__":
    main()
