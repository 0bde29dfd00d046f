"""Constrained decoding against free decoding on the same records: validity, strict F1 and decoding speed.

For every bundled test dataset (the first ``--limit`` records, the prompt of ``--style``) the model decodes each
batch twice on the transformers backend, free and under the JSON Schema of the target (``eval.constrained``),
the two alternating batch by batch (this machine's speed drifts), after one untimed batch. Per dataset it prints
the valid and parsed rates (``eval.metrics.validity``) and the strict F1 (EE: trigger and argument), then the
generated tokens per second of each mode.

    python benchmarks/bench_constrained.py --model DIR [--template qwen3_nothink] [--style sa] [--limit 20]

``--model`` is a trained model folder (a stage checkpoint): a random or base model measures nothing but the
mechanics, so its numbers are not results.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converters.readers import ReadLog  # noqa: E402
from converters.records import schema_of  # noqa: E402
from eval.benchmarks import resolve  # noqa: E402
from eval.constrained import output_json_schema  # noqa: E402
from eval.metrics import headline, parse_predictions, score, validity  # noqa: E402
from eval.predict import build_prompt, load_tokenizer, make_generator  # noqa: E402

MODES = ("free", "constrained")


def _scores(task: str, records: list[dict], predictions: list[str], profile: str) -> str:
    result = score(task, records, predictions, "strict", profile)
    parts = ("trigger", "argument") if task == "ee" else (None,)
    return " / ".join(f"{100 * headline(result, part):5.1f}" for part in parts)


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
    print(f"{'dataset':28s} {'mode':12s} {'valid':>6s} {'parsed':>6s} {'strict F1':>13s}")
    for ds, records in datasets:
        for mode in MODES:
            predictions = outputs[(ds.key, mode)][:len(records)]  # every round decodes the same (greedy)
            checks = validity(parse_predictions(records, predictions, args.profile))
            print(f"{ds.key:28s} {mode:12s} {100 * checks['valid_rate']:5.1f}% {100 * checks['parsed_rate']:5.1f}% "
                  f"{_scores(ds.task, records, predictions, args.profile):>13s}")
    rate = {mode: tokens[mode] / seconds[mode] for mode in MODES}
    for mode in MODES:
        print(f"{mode:12s} {tokens[mode]:6d} tokens in {seconds[mode]:7.1f} s: {rate[mode]:7.1f} tokens/s, "
              f"{seconds[mode] / args.rounds / sum(len(r) for _, r in datasets):.3f} s per record")
    print(f"constrained decoding: {rate['constrained'] / rate['free']:.2f}x the free tokens/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
