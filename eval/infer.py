"""Extraction for users (the paper's Algorithm 2): text + task + label schema -> parsed structure as JSON.

    python -m eval.infer --model DIR --task ner --labels person,location --text "Anna lives in Rome ."
    python -m eval.infer --model DIR --task ee --labels '{"attack": ["attacker", "target"]}' --input in.jsonl

``--input`` rows are JSON objects with ``text`` and optionally their own ``labels`` (and ``task``). Output: one
JSON object per text with the units (``Units.to_json``), the raw output and its validity.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from converters.format import parse_output
from converters.records import Schema
from eval.metrics import prediction_check
from eval.predict import BACKENDS, Generation, build_prompt, load_tokenizer, make_generator
from eval.predictions_io import read_jsonl

Labels = Sequence[str] | Mapping[str, Sequence[str]]


def schema_for(task: str, labels: Labels, text: str) -> Schema:
    """The schema a prompt asks for: a label list, or {event type: [roles]} for EE."""
    if task == "ee":
        if not isinstance(labels, Mapping):
            raise ValueError("EE labels must be an object {event type: [roles]}")
        return Schema("ee", {str(k): tuple(v) for k, v in labels.items()}, text)
    if task not in ("ner", "re"):
        raise ValueError(f"unknown task {task!r}; expected ner, re or ee")
    if isinstance(labels, Mapping) or isinstance(labels, str) or not labels:
        raise ValueError(f"{task.upper()} labels must be a non-empty list of label names")
    return Schema(task, tuple(labels), text)


def extract(texts: Sequence[str], task: str, labels: Labels | Sequence[Labels], model_dir: str | Path,
            backend: str = "transformers", template: str = "qwen3_nothink", style: str = "sa",
            profile: str = "default", max_new_tokens: int = 512, batch_size: int = 8,
            per_text_labels: bool = False, generator: Any = None) -> list[dict[str, Any]]:
    """Extract from each text; ``labels`` is one schema for all texts, or one per text with ``per_text_labels``."""
    schemas = [schema_for(task, lab, t) for t, lab in zip(texts, labels if per_text_labels else [labels] * len(texts))]
    generate = generator or make_generator(model_dir, template, backend, max_new_tokens)
    tokenizer = load_tokenizer(str(model_dir))
    outputs: list[Generation] = []
    for start in range(0, len(schemas), batch_size):
        chunk = schemas[start:start + batch_size]
        outputs += generate([build_prompt(s, template, tokenizer, style, profile) for s in chunk])
    results = []
    for schema, (raw, _) in zip(schemas, outputs):
        parsed = parse_output(raw, schema, profile)
        results.append({"text": schema.text, **parsed.units.to_json(), "output": raw, **prediction_check(parsed)})
    return results


def _labels(task: str, value: str) -> Labels:
    if task == "ee" or value.lstrip().startswith(("{", "[")):
        return json.loads(value)
    return [x.strip() for x in value.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.infer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model directory (Hugging Face format)")
    ap.add_argument("--task", required=True, choices=["ner", "re", "ee"])
    ap.add_argument("--labels", help="comma-separated labels, or JSON ({type: [roles]} for EE)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="one input text")
    src.add_argument("--input", help="JSONL file of {text[, labels]} rows")
    ap.add_argument("--backend", default="transformers", choices=BACKENDS)
    ap.add_argument("--template", default="qwen3_nothink")
    ap.add_argument("--style", default="sa", choices=["sa", "cm"])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args(argv)
    default = _labels(args.task, args.labels) if args.labels else None
    if args.text is not None:
        texts, labels = [args.text], [default]
    else:
        rows = read_jsonl(args.input)
        for lineno, row in rows:
            if not isinstance(row.get("text"), str):
                ap.error(f"{args.input}:{lineno}: row needs a 'text' string")
            if row.get("labels") is None and default is None:
                ap.error(f"{args.input}:{lineno}: row has no 'labels' and --labels is not given")
        texts = [row["text"] for _, row in rows]
        labels = [row.get("labels", default) for _, row in rows]
    if any(lab is None for lab in labels):
        ap.error("--labels is required")
    results = extract(texts, args.task, labels, args.model, args.backend, args.template, args.style, args.profile,
                      args.max_new_tokens, args.batch_size, per_text_labels=True)
    for r in results:
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
