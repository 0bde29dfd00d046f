"""Extraction for users (the paper's Algorithm 2): text + task + label schema -> parsed structure as JSON.

    python -m eval.infer --model DIR --task ner --labels person,location --text "Anna lives in Rome ."
    python -m eval.infer --model DIR --task ee --labels '{"attack": ["attacker", "target"]}' --input in.jsonl

``--input`` rows are JSON objects with ``text`` and optionally their own ``labels`` (and ``task``). Output: one
JSON object per text with the units (``Units.to_json``), the raw output and its validity. ``--constrained``
decodes under the JSON Schema of the answer (``eval.constrained``). The server (``eval.serve``) asks and reads
through the same ``ExtractionIO``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from converters.format import ParseResult, parse_output
from converters.records import Schema
from eval.constrained import output_json_schema
from eval.metrics import prediction_check
from eval.predict import BACKENDS, Generation, Generator, build_prompt, load_tokenizer, make_generator
from eval.predictions_io import read_jsonl

Labels = Sequence[str] | Mapping[str, Sequence[str]]
TASKS = ("ner", "re", "ee")


class InputError(ValueError):
    """A bad extraction request; ``field`` names the input at fault (``task``, ``labels``, ``text``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def schema_for(task: str, labels: Labels, text: str) -> Schema:
    """The schema a prompt asks for: a non-empty label list, or {event type: [roles]} for EE."""
    if task not in TASKS:
        raise InputError("task", f"unknown task {task!r}; expected ner, re or ee")
    if task == "ee":
        if not isinstance(labels, Mapping) or not labels:
            raise InputError("labels", "EE labels must be an object {event type: [roles]} with at least one type")
        for etype, roles in labels.items():
            if isinstance(roles, str) or not all(isinstance(r, str) for r in roles):
                raise InputError("labels", f"event type {etype!r}: roles must be a list of role names")
        return Schema("ee", {str(k): tuple(v) for k, v in labels.items()}, text)
    if isinstance(labels, Mapping) or isinstance(labels, str) or not labels:
        raise InputError("labels", f"{task.upper()} labels must be a non-empty list of label names")
    if not all(isinstance(x, str) and x.strip() for x in labels):
        raise InputError("labels", f"{task.upper()} labels must be non-empty strings")
    return Schema(task, tuple(labels), text)


def parse_labels(task: str, value: str) -> Labels:
    """Labels written as text: comma-separated names, or JSON (a list, or {type: [roles]} for EE)."""
    if task == "ee" or value.lstrip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError("labels", f"not valid JSON ({exc.msg})") from None
    return [x.strip() for x in value.split(",") if x.strip()]


@dataclass(frozen=True)
class ExtractionIO:
    """How one extraction is asked and read: the prompt (the training bytes), the JSON Schema that constrains
    its answer, and the answer as ``eval.infer`` prints it. ``eval.infer`` and ``eval.serve`` both go through it."""

    tokenizer: Any
    template: str = "qwen3_nothink"
    style: str = "sa"
    profile: str = "default"

    def prompt(self, schema: Schema) -> str:
        """The model input for ``schema`` (with its text), byte-identical to the SFT/GRPO prompt."""
        return build_prompt(schema, self.template, self.tokenizer, self.style, self.profile)

    def json_schema(self, schema: Schema) -> dict[str, Any]:
        """The JSON Schema of the answer the prompt asks for (``constrained`` decoding)."""
        return output_json_schema(schema, self.style)

    def parse(self, schema: Schema, raw: str) -> ParseResult:
        """The model output read against ``schema``."""
        return parse_output(raw, schema, self.profile)

    def row(self, schema: Schema, raw: str) -> dict[str, Any]:
        """The answer: the text, its units (``Units.to_json``), the raw output and its verdict."""
        parsed = self.parse(schema, raw)
        return {"text": schema.text, **parsed.units.to_json(), "output": raw, **prediction_check(parsed)}


def extract(texts: Sequence[str], task: str, labels: Labels | Sequence[Labels], model_dir: str | Path,
            backend: str = "transformers", template: str = "qwen3_nothink", style: str = "sa",
            profile: str = "default", max_new_tokens: int = 512, batch_size: int = 8,
            per_text_labels: bool = False, generator: Generator | None = None,
            constrained: bool = False) -> list[dict[str, Any]]:
    """Extract from each text; ``labels`` is one schema for all texts, or one per text with ``per_text_labels``.
    ``constrained``: the model can only write the JSON object of the schema (``eval.constrained``)."""
    schemas = [schema_for(task, lab, t) for t, lab in zip(texts, labels if per_text_labels else [labels] * len(texts))]
    generate = generator or make_generator(model_dir, template, backend, max_new_tokens)
    io = ExtractionIO(load_tokenizer(str(model_dir)), template, style, profile)
    outputs: list[Generation] = []
    for start in range(0, len(schemas), batch_size):
        chunk = schemas[start:start + batch_size]
        prompts = [io.prompt(s) for s in chunk]
        outputs += generate(prompts, [io.json_schema(s) for s in chunk]) if constrained else generate(prompts)
    return [io.row(schema, raw) for schema, (raw, _) in zip(schemas, outputs)]


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
    ap.add_argument("--constrained", action="store_true",
                    help="decode under the JSON Schema of the answer: only the schema's slots, string values")
    args = ap.parse_args(argv)
    try:
        default = parse_labels(args.task, args.labels) if args.labels else None
    except InputError as err:
        ap.error(f"--{err}")
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
    try:
        results = extract(texts, args.task, labels, args.model, args.backend, args.template, args.style,
                          args.profile, args.max_new_tokens, args.batch_size, per_text_labels=True,
                          constrained=args.constrained)
    except InputError as err:
        ap.error(str(err))
    for r in results:
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
