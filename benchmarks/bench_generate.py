"""Evaluation decoding speed: ``eval.predict.generate_tokens`` against transformers' ``generate()``, same run.

Both decode the same batches greedily: one batch per bundled test dataset (the first ``--limit`` records, the
prompt of ``--style``), stopped at the template's stop tokens, at most ``--max-new-tokens``. ``generate()`` (the
model with transformers' default attention) encodes every prompt whole and keeps finished rows in the batch to the
last step; ``generate_tokens`` (the model as the eval loads it on a CPU, ``eval.attention``) encodes the shared
prefix once and drops a row when it stops. Rounds alternate the two (this machine's speed drifts) and the ratio
is of the totals. The tokens must be identical: the script exits 1 if one differs.

    python benchmarks/bench_generate.py [--model DIR] [--style sa] [--limit 20] [--rounds 2]

``--model`` defaults to SmolLM2-135M-Instruct from the cache (fetched and converted once, as ``make mini``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converters.chat import stop_tokens  # noqa: E402
from converters.readers import ReadLog  # noqa: E402
from eval.attention import register  # noqa: E402
from eval.benchmarks import resolve  # noqa: E402
from eval.predict import build_prompt, generate_tokens  # noqa: E402


def reference(model, tokenizer, prompts: list[str], max_new_tokens: int, stops: set[int]) -> list[list[int]]:
    """transformers' ``generate()`` on left-padded whole prompts, cut after each row's first stop token."""
    import torch

    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=sorted(stops),
                             pad_token_id=tokenizer.pad_token_id)
    rows = [row[batch["input_ids"].shape[1]:] for row in out.tolist()]
    return [row[:next((k + 1 for k, t in enumerate(row) if t in stops), len(row))] for row in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--template", default="smollm2")
    ap.add_argument("--style", default="sa", choices=("cm", "sa"))
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.model is None:
        from launch.models.smollm2 import ensure_smollm2

        args.model = str(ensure_smollm2())
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype="auto").eval()
    fast = AutoModelForCausalLM.from_pretrained(args.model, dtype="auto", attn_implementation=register()).eval()
    stops = {tokenizer.convert_tokens_to_ids(t) for t in stop_tokens(args.template, tokenizer)}
    batches = [(ds.key, [build_prompt(r, args.template, tokenizer, args.style)
                         for r in ds.records(None, ReadLog())[:args.limit]]) for ds in resolve("smoke")]
    seconds = {"generate": 0.0, "generate_tokens": 0.0}
    same = True
    for _ in range(args.rounds):
        for key, prompts in batches:
            t0 = time.perf_counter()
            ref = reference(model, tokenizer, prompts, args.max_new_tokens, stops)
            t1 = time.perf_counter()
            ours = generate_tokens(fast, tokenizer, prompts, args.max_new_tokens, stops)
            t2 = time.perf_counter()
            seconds["generate"] += t1 - t0
            seconds["generate_tokens"] += t2 - t1
            same &= ours == ref
            print(f"{key:30s} generate {t1 - t0:6.1f} s  generate_tokens {t2 - t1:6.1f} s  "
                  f"tokens {sum(map(len, ours)):5d}  identical {ours == ref}", flush=True)
    print(f"total over {args.rounds} round(s): generate {seconds['generate']:.1f} s, generate_tokens "
          f"{seconds['generate_tokens']:.1f} s: {seconds['generate'] / seconds['generate_tokens']:.2f}x; "
          f"identical tokens: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
