"""Batched generation for gold records, with the exact prompt a model was trained on.

The prompt is ``chat_prompt(render_prompt(record, style, profile), template, tokenizer)``: the user turn
LLaMA-Factory trained on, wrapped by LLaMA-Factory's own template (``converters.chat``). Decoding is greedy and
stops at the tokenizer's end-of-sequence token or a stop word of the template.

Backends: ``transformers`` (CPU or one GPU; always available) and ``vllm`` (GPU, optional extra
``prouie[gpu]``). Predictions go to a JSONL file one batch at a time; running again skips the records already
there, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tqdm import tqdm

from converters.chat import chat_prompt, stop_tokens
from converters.format import render_prompt
from converters.records import Schema
from eval.predictions_io import append_rows, resume_rows

BACKENDS = ("transformers", "vllm")
Generation = tuple[str, int]  # decoded text, number of generated tokens


@lru_cache(maxsize=8)
def load_tokenizer(model_dir: str) -> Any:
    """The model's tokenizer (its special tokens complete the template's text); loaded once per folder."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def build_prompt(record: Mapping[str, Any] | Schema, template: str, tokenizer: Any, style: str = "cm",
                 profile: str = "default") -> str:
    """The model input for one record (or a user's schema), byte-identical to the SFT/GRPO prompt."""
    return chat_prompt(render_prompt(record, style, profile), template, tokenizer)


def _transformers_generator(model_dir: str | Path, max_new_tokens: int, device: str | None, template: str
                            ) -> Callable[[list[str]], list[Generation]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="auto").to(device).eval()
    stop_ids = [i for i in (tokenizer.convert_tokens_to_ids(t) for t in stop_tokens(template, tokenizer))
                if i is not None and i != tokenizer.unk_token_id]

    def generate(prompts: list[str]) -> list[Generation]:
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.no_grad():
            out = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=stop_ids,
                                 pad_token_id=tokenizer.pad_token_id)
        results = []
        for row in out[:, batch["input_ids"].shape[1]:].tolist():
            n = next((k for k, tok in enumerate(row) if tok in stop_ids), len(row))
            results.append((tokenizer.decode(row[:n], skip_special_tokens=True), n))
        return results

    return generate


def vllm_request(prompts: Sequence[str], max_new_tokens: int, stops: Sequence[str]
                 ) -> tuple[list[str], dict[str, Any]]:
    """The prompts and ``SamplingParams`` keywords of a vLLM run: greedy, stopped at the template's stop tokens.

    Kept free of vLLM so that the request is testable without a GPU.
    """
    return list(prompts), {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_new_tokens,
                           "stop": list(stops), "skip_special_tokens": True}


def _vllm_generator(model_dir: str | Path, max_new_tokens: int, template: str
                    ) -> Callable[[list[str]], list[Generation]]:
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        raise RuntimeError("backend 'vllm' needs vLLM on a CUDA machine: pip install 'prouie[gpu]' "
                           "(or use backend=transformers)") from None
    llm = LLM(model=str(model_dir))
    stops = stop_tokens(template, llm.get_tokenizer())

    def generate(prompts: list[str]) -> list[Generation]:
        texts, params = vllm_request(prompts, max_new_tokens, stops)
        outs = llm.generate(texts, SamplingParams(**params), use_tqdm=False)
        return [(o.outputs[0].text, len(o.outputs[0].token_ids)) for o in outs]

    return generate


def make_generator(model_dir: str | Path, template: str, backend: str = "transformers", max_new_tokens: int = 512,
                   device: str | None = None) -> Callable[[list[str]], list[Generation]]:
    """A function from a batch of model inputs to (text, generated token count) pairs, stopping where
    ``template`` ends a turn."""
    if backend == "transformers":
        return _transformers_generator(model_dir, max_new_tokens, device, template)
    if backend == "vllm":
        return _vllm_generator(model_dir, max_new_tokens, template)
    raise ValueError(f"unknown backend {backend!r}; known: {BACKENDS}")


def predict(records: Sequence[Mapping[str, Any]], model_dir: str | Path, out_file: str | Path,
            backend: str = "transformers", template: str = "qwen3_nothink", style: str = "cm",
            profile: str = "default", max_new_tokens: int = 512, batch_size: int = 8,
            device: str | None = None, generator: Callable[[list[str]], list[Generation]] | None = None,
            ) -> list[dict[str, Any]]:
    """Predict every record into ``out_file`` (resuming it) and return the rows in record order.

    Rows are ``{"id", "dataset", "prediction", "n_tokens"}``. ``generator`` replaces the backend (tests,
    callers that keep a model loaded across datasets).
    """
    ids = [str(r["id"]) for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("record ids must be unique to resume predictions by id")
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    done = {str(row["id"]): row for row in resume_rows(out_file)}
    todo = [r for r in records if str(r["id"]) not in done]
    if todo:
        generate = generator or make_generator(model_dir, template, backend, max_new_tokens, device)
        tokenizer = load_tokenizer(str(model_dir))
        with tqdm(total=len(records), initial=len(records) - len(todo), desc=f"predict {out_file.stem}",
                  unit="ex") as bar:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                outputs = generate([build_prompt(r, template, tokenizer, style, profile) for r in chunk])
                rows = [{"id": str(r["id"]), "dataset": r.get("dataset"), "prediction": text, "n_tokens": n}
                        for r, (text, n) in zip(chunk, outputs)]
                append_rows(out_file, rows)
                done.update((row["id"], row) for row in rows)
                bar.update(len(chunk))
    return [done[i] for i in ids]
