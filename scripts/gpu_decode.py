"""Decoding speed of a model on the transformers backend, as the eval stage decodes: tokens per second.

Why a measurement of its own: the eval stage's wall time is mostly start-up (imports, model load, scoring), which
on a tiny model hides the decoding rate. This loads the model the eval stage evaluated, with the eval stage's own
settings (template, prompt style, profile, max_new_tokens, batch size, benchmark and limit, read from its
config.yaml), decodes one batch to warm up, then times every batch of the benchmark's prompts with the device
synchronised around each.

    python scripts/gpu_decode.py <eval stage>/config.yaml [--device cuda]

Prints one JSON object: generated tokens (stop tokens not counted), seconds, tokens_per_s, prompts, batch_size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import yaml  # noqa: E402

from eval.benchmarks import resolve  # noqa: E402
from eval.predict import build_prompt, load_tokenizer, make_generator  # noqa: E402


def benchmark_prompts(config: dict[str, Any]) -> list[str]:
    """The model inputs the eval stage decoded: every dataset of its benchmark, each cut to its limit."""
    tokenizer = load_tokenizer(str(config["model"]))
    limits = config.get("limits") or {}
    prompts = []
    for ds in resolve(config["benchmark"]):
        records = ds.records(config.get("data_dir"))[: limits.get(ds.key, config.get("limit")) or None]
        prompts += [build_prompt(r, config["template"], tokenizer, config["style"], config["profile"])
                    for r in records]
    return prompts


def decode_rate(config: dict[str, Any], device: str | None) -> dict[str, Any]:
    """Time greedy decoding of the benchmark's prompts in the eval stage's batches, after one warm-up batch."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    generate = make_generator(config["model"], config["template"], "transformers", config["max_new_tokens"], device)
    prompts, size = benchmark_prompts(config), int(config["batch_size"])
    batches = [prompts[i:i + size] for i in range(0, len(prompts), size)]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    generate(batches[0])
    tokens, seconds = 0, 0.0
    for batch in batches:
        sync()
        start = time.perf_counter()
        outputs = generate(batch)
        sync()
        seconds += time.perf_counter() - start
        tokens += sum(n for _, n in outputs)
    rate = round(tokens / seconds, 1) if seconds else None
    return {"device": device, "prompts": len(prompts), "batch_size": size, "max_new_tokens": config["max_new_tokens"],
            "tokens": tokens, "seconds": round(seconds, 4), "tokens_per_s": rate}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, help="the eval stage's config.yaml")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one)")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    print(json.dumps(decode_rate(config, args.device)))


if __name__ == "__main__":
    main()
