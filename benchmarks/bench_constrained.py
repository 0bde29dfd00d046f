"""Constrained decoding against free decoding on the same records: validity, strict F1 and decoding speed.

For every bundled test dataset (the first ``--limit`` records, the prompt of ``--style``) the model decodes each
batch twice on the transformers backend, free and under the JSON Schema of the target (``eval.constrained``),
the two alternating batch by batch (this machine's speed drifts), after one untimed batch. Per dataset it prints
how many outputs are valid (``ParseResult.valid``: parsed, schema-conformant, grounded) and the strict F1 (EE:
trigger and argument), then the generated tokens per second of each mode. Every F1 carries its 95 % bootstrap
interval over the records, and constrained minus free its paired interval (``eval.bootstrap``: the same records
resampled for both); per task the same for the mean over its datasets (stratified). ``--out FILE.json`` also
writes the numbers and a markdown table beside it (``FILE.md``).

    python benchmarks/bench_constrained.py --model DIR [--template qwen3_nothink] [--style sa] [--limit 20] [--out F]

``--model`` is a trained model folder (a stage checkpoint): a random or base model measures nothing but the
mechanics, so its numbers are not results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converters.readers import ReadLog  # noqa: E402
from converters.records import schema_of  # noqa: E402
from eval import bootstrap  # noqa: E402
from eval.benchmarks import resolve  # noqa: E402
from eval.constrained import output_json_schema  # noqa: E402
from eval.intervals import counts  # noqa: E402
from eval.metrics import parse_predictions, score, score_part  # noqa: E402
from eval.predict import build_prompt, load_tokenizer, make_generator  # noqa: E402

MODES = ("free", "constrained")


def _parts(task: str) -> tuple[str | None, ...]:
    return ("trigger", "argument") if task == "ee" else (None,)


def _counts(task: str, records: list[dict], predictions: list[str], profile: str) -> dict[str | None, np.ndarray]:
    """Per-record (tp, n_pred, n_gold) of each score part under the strict scorer."""
    result = score(task, records, predictions, "strict", profile, per_record=True)
    return {part: counts(score_part(result, part)) for part in _parts(task)}


def _f1(strata: list[np.ndarray]) -> dict[str, float]:
    low, high = bootstrap.interval(strata)
    return {"f1": 100 * bootstrap.estimate(strata), "low": 100 * low, "high": 100 * high}


def _diff(constrained: list[np.ndarray], free: list[np.ndarray]) -> dict[str, float | bool]:
    diff, low, high = bootstrap.paired_difference(constrained, free)
    return {"diff": 100 * diff, "low": 100 * low, "high": 100 * high, "significant": bootstrap.significant(low, high)}


def _row(name: str, n: int, free: dict, constrained: dict, diff: dict, valid: dict[str, str]) -> str:
    interval = "{f1:.1f} [{low:.1f}, {high:.1f}]"
    star = "*" if diff["significant"] else ""
    return (f"| {name} | {n} | {valid['free']} | {valid['constrained']} | {interval.format(**free)} | "
            f"{interval.format(**constrained)} | {diff['diff']:+.1f} [{diff['low']:.1f}, {diff['high']:.1f}]{star} |")


def table(results: dict) -> str:
    """The markdown table of a run's ``results`` (per dataset and per task mean; valid = schema-conformant and
    grounded, with its count)."""
    lines = ["| dataset | records | valid free | valid constrained | strict F1 free | strict F1 constrained | "
             "constrained - free |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in results["datasets"] + results["tasks"]:
        valid = {m: (f"{100 * row['valid'][m] / row['records']:.1f} % ({row['valid'][m]})" if "valid" in row else "")
                 for m in MODES}
        lines.append(_row(row["name"], row["records"], row["free"], row["constrained"], row["difference"], valid))
    speed = results["speed"]
    lines += ["", f"Decoding: free {speed['free']['tokens_per_s']:.1f} tokens/s, constrained "
                  f"{speed['constrained']['tokens_per_s']:.1f} tokens/s ({speed['ratio']:.2f}x), same batches "
                  "alternating. Intervals: 95 % percentile bootstrap over records (B = 1000, seed 0); the difference "
                  "is paired (* : its interval excludes 0)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a trained model folder")
    ap.add_argument("--template", default="qwen3_nothink")
    ap.add_argument("--style", default="sa", choices=("cm", "sa"))
    ap.add_argument("--profile", default="default")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", default=None, help="write the results as JSON here and the table beside it (.md)")
    args = ap.parse_args()
    generate = make_generator(args.model, args.template, max_new_tokens=args.max_new_tokens, device=args.device)
    tokenizer = load_tokenizer(args.model)
    datasets = [(ds, ds.records(None, ReadLog())[:args.limit]) for ds in resolve("smoke")]
    warm = datasets[0][1][:args.batch_size]  # untimed: the grammar compiler is built on the first constrained call
    warm_prompts = [build_prompt(r, args.template, tokenizer, args.style, args.profile) for r in warm]
    generate(warm_prompts, [output_json_schema(schema_of(r), args.style) for r in warm])
    seconds = {m: 0.0 for m in MODES}
    tokens = {m: 0 for m in MODES}
    outputs: dict[tuple[str, str], list[str]] = {}
    for _ in range(args.rounds):
        for ds, records in datasets:
            for start in range(0, len(records), args.batch_size):
                chunk = records[start:start + args.batch_size]
                prompts = [build_prompt(r, args.template, tokenizer, args.style, args.profile) for r in chunk]
                schemas = [output_json_schema(schema_of(r), args.style) for r in chunk]
                for mode in MODES:
                    t0 = time.perf_counter()
                    got = generate(prompts, schemas) if mode == "constrained" else generate(prompts)
                    seconds[mode] += time.perf_counter() - t0
                    tokens[mode] += sum(n for _, n in got)
                    outputs.setdefault((ds.key, mode), []).extend(text for text, _ in got)
    results: dict = {"model": args.model, "template": args.template, "style": args.style, "limit": args.limit,
                     "max_new_tokens": args.max_new_tokens, "datasets": [], "tasks": []}
    by_task: dict[tuple[str, str | None], dict[str, list[np.ndarray]]] = {}
    for ds, records in datasets:
        per_mode = {}
        valid = {}
        for mode in MODES:
            predictions = outputs[(ds.key, mode)][:len(records)]  # every round decodes the same (greedy)
            valid[mode] = sum(p.valid for p in parse_predictions(records, predictions, args.profile))
            per_mode[mode] = _counts(ds.task, records, predictions, args.profile)
        for part in _parts(ds.task):
            name = ds.key + (f" ({part})" if part else "")
            free, constrained = [per_mode["free"][part]], [per_mode["constrained"][part]]
            results["datasets"].append({"name": name, "records": len(records), "valid": valid, "free": _f1(free),
                                        "constrained": _f1(constrained), "difference": _diff(constrained, free)})
            for mode in MODES:
                by_task.setdefault((ds.task, part), {m: [] for m in MODES})[mode].append(per_mode[mode][part])
    for (task, part), strata in by_task.items():
        results["tasks"].append({"name": f"{task} mean" + (f" ({part})" if part else ""),
                                 "records": sum(len(s) for s in strata["free"]), "free": _f1(strata["free"]),
                                 "constrained": _f1(strata["constrained"]),
                                 "difference": _diff(strata["constrained"], strata["free"])})
    rate = {mode: tokens[mode] / seconds[mode] for mode in MODES}
    results["speed"] = {**{m: {"tokens": tokens[m], "seconds": seconds[m], "tokens_per_s": rate[m]} for m in MODES},
                        "ratio": rate["constrained"] / rate["free"]}
    text = table(results)
    print(text, end="")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        out.with_suffix(".md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
