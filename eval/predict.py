"""Batched generation for gold records, with the exact prompt a model was trained on.

The prompt is ``chat_prompt(render_prompt(record, style, profile), template, tokenizer)``: the user turn
LLaMA-Factory trained on, wrapped by LLaMA-Factory's own template (``converters.chat``). Decoding is greedy and
stops at the tokenizer's end-of-sequence token or a stop word of the template. On the transformers backend the
prefix a batch's prompts share is encoded once, a row leaves the batch when it stops, and on a CPU grouped K/V
heads skip transformers' copy (``eval.attention``): the same tokens as ``generate()``, faster on a CPU
(``benchmarks/bench_generate.py``; the equality is tested in tests/eval/test_predict.py).

With ``constrained=True`` each prompt also carries the JSON Schema of its target (``eval.constrained``): the
transformers backend masks every step's logits with xgrammar before the argmax, vLLM gets it as a structured
output; either way the model can only write an object with the schema's slots, in order, with string values.

Backends: ``transformers`` (CPU or one GPU; always available) and ``vllm`` (GPU, optional extra
``prouie[gpu]``). Predictions go to a JSONL file one batch at a time; running again skips the records already
there, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from tqdm import tqdm

from converters.chat import chat_prompt, stop_tokens
from converters.format import render_prompt
from converters.records import Schema, schema_of
from eval.attention import register as register_sdpa_gqa
from eval.constrained import BatchConstraint, GrammarConstraints, output_json_schema
from eval.predictions_io import append_rows, resume_rows

BACKENDS = ("transformers", "vllm")
Generation = tuple[str, int]  # decoded text, number of generated tokens
JsonSchema = Mapping[str, Any]


class Generator(Protocol):
    """A backend: model inputs to (text, token count) pairs; ``json_schemas`` (one per input, ``None`` for a free
    one) constrains each output to its JSON Schema."""

    def __call__(self, prompts: list[str], json_schemas: Sequence[JsonSchema | None] | None = None
                 ) -> list[Generation]:
        ...


@lru_cache(maxsize=8)
def load_tokenizer(model_dir: str) -> Any:
    """The model's tokenizer (its special tokens complete the template's text); loaded once per folder."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def build_prompt(record: Mapping[str, Any] | Schema, template: str, tokenizer: Any, style: str = "cm",
                 profile: str = "default") -> str:
    """The model input for one record (or a user's schema), byte-identical to the SFT/GRPO prompt."""
    return chat_prompt(render_prompt(record, style, profile), template, tokenizer)


def shared_prefix(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every row has in common, always leaving each row at least one of its own: the
    part of a batch's prompts (template, instruction, label list) that is encoded once instead of once per row."""
    if len(rows) < 2:
        return 0
    n = min(len(r) for r in rows) - 1
    first = rows[0]
    for row in rows[1:]:
        n = next((k for k in range(n) if row[k] != first[k]), n)
    return max(n, 0)


def greedy_decode(model: Any, ids: Any, mask: Any, cache: Any, cached: int, max_new_tokens: int,
                  stops: set[int], constraint: BatchConstraint | None = None) -> list[list[int]]:
    """Greedy decoding of a left-padded batch whose first ``cached`` positions are already in ``cache``.

    Unlike ``generate()``, a row leaves the batch (and its KV cache) as soon as it stops: on a CPU a decoding
    step costs about as much per row as the whole model, so a batch whose rows end at 9 tokens no longer
    pays for the one that runs to the cap 20 times over. Plain argmax, as the vLLM request
    (``vllm_request``): the model's ``generation_config`` penalties are not applied on either backend.
    ``constraint`` masks each step's logits before the argmax and follows each row's tokens (its grammars end
    with ``stops``, so a row whose matcher terminates has produced a stop token and leaves the batch).
    Returns each row's tokens, the stop token included where one was produced.
    """
    import torch

    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids[:, cached:], attention_mask=mask, position_ids=positions[:, cached:],
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits
    live = list(range(ids.shape[0]))  # the batch index of each row still decoding
    out: list[list[int]] = [[] for _ in live]
    nxt_pos = mask.sum(-1, keepdim=True)
    for _ in range(max_new_tokens):
        step = logits[:, -1] if constraint is None else constraint.mask(logits[:, -1], live)
        nxt = step.argmax(-1)
        keep = []
        for j, tok in enumerate(nxt.tolist()):
            out[live[j]].append(tok)
            if constraint is not None:
                constraint.accept(live[j], tok)
            if tok not in stops and len(out[live[j]]) < max_new_tokens:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(live):
            index = torch.tensor(keep, device=ids.device)
            cache.batch_select_indices(index)
            mask, nxt_pos, nxt = mask[index], nxt_pos[index], nxt[index]
            live = [live[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones(len(live), 1)], dim=-1)
        logits = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=nxt_pos, past_key_values=cache,
                       use_cache=True).logits
        nxt_pos = nxt_pos + 1
    return out


def generate_tokens(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int, stops: set[int],
                    constraint: BatchConstraint | None = None) -> list[list[int]]:
    """Greedy continuations of ``prompts`` (token ids, a stop token included where one was produced).

    The prompts of a batch share the template and instruction (most of their tokens): that prefix is run once
    and its KV cache copied to every row. Each row's own tokens follow it, left-padded, so that the padding sits
    between the prefix and the row (masked; positions follow the mask) and every row ends where generation
    starts: the same tokens at the same positions as encoding each prompt whole.
    """
    import torch
    from transformers import DynamicCache

    rows = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    n = shared_prefix(rows)
    width = max(len(r) for r in rows) - n
    ids = torch.tensor([rows[0][:n] + [tokenizer.pad_token_id] * (width - len(r) + n) + r[n:] for r in rows],
                       device=model.device)
    mask = torch.tensor([[1] * n + [0] * (width - len(r) + n) + [1] * (len(r) - n) for r in rows],
                        device=model.device)
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        if n:
            model(input_ids=ids[:1, :n], past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache.batch_repeat_interleave(len(rows))
        return greedy_decode(model, ids, mask, cache, n, max_new_tokens, stops, constraint)


def _transformers_generator(model_dir: str | Path, max_new_tokens: int, device: str | None, template: str,
                            bf16: bool = False) -> Generator:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    # on a CPU, grouped K/V go to torch's SDPA as they are (eval/attention.py); CUDA keeps transformers' default
    attention = {"attn_implementation": register_sdpa_gqa()} if device == "cpu" else {}
    dtype = torch.bfloat16 if bf16 else "auto"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, **attention).to(device).eval()
    stop_ids = [i for i in (tokenizer.convert_tokens_to_ids(t) for t in stop_tokens(template, tokenizer))
                if i is not None and i != tokenizer.unk_token_id]
    grammars: list[GrammarConstraints] = []  # built on the first constrained batch

    def generate(prompts: list[str], json_schemas: Sequence[JsonSchema | None] | None = None) -> list[Generation]:
        constraint = None
        if json_schemas is not None:
            if not grammars:
                grammars.append(GrammarConstraints(tokenizer, model.get_output_embeddings().weight.shape[0], stop_ids))
            constraint = grammars[0].batch(json_schemas)
        tokens = generate_tokens(model, tokenizer, prompts, max_new_tokens, set(stop_ids), constraint)
        results = []
        for row in tokens:
            n_out = next((k for k, tok in enumerate(row) if tok in stop_ids), len(row))
            results.append((tokenizer.decode(row[:n_out], skip_special_tokens=True), n_out))
        return results

    return generate


def vllm_request(prompts: Sequence[str], max_new_tokens: int, stops: Sequence[str]
                 ) -> tuple[list[str], dict[str, Any]]:
    """The prompts and ``SamplingParams`` keywords of a vLLM run: greedy, stopped at the template's stop tokens.

    Kept free of vLLM so that the request is testable without a GPU.
    """
    return list(prompts), {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_new_tokens,
                           "stop": list(stops), "skip_special_tokens": True}


def vllm_structured_outputs(json_schemas: Sequence[JsonSchema | None]) -> list[dict[str, Any] | None]:
    """Per prompt, the keywords of vLLM's ``StructuredOutputsParams`` (``GuidedDecodingParams`` before 0.10.2)
    that constrain it to its JSON Schema (``None``: a free prompt); vLLM compiles them with its own backend
    (xgrammar by default)."""
    return [None if s is None else {"json": dict(s)} for s in json_schemas]


def _vllm_structured(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``SamplingParams`` keyword for ``fields``: ``structured_outputs`` from vLLM 0.10.2, ``guided_decoding``
    before."""
    try:
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(**fields)}
    return {"structured_outputs": StructuredOutputsParams(**fields)}


def _vllm_generator(model_dir: str | Path, max_new_tokens: int, template: str, bf16: bool = False) -> Generator:
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        raise RuntimeError("backend 'vllm' needs vLLM on a CUDA machine: pip install 'prouie[gpu]' "
                           "(or use backend=transformers)") from None
    llm = LLM(model=str(model_dir), dtype="bfloat16" if bf16 else "auto")
    stops = stop_tokens(template, llm.get_tokenizer())

    def generate(prompts: list[str], json_schemas: Sequence[JsonSchema | None] | None = None) -> list[Generation]:
        texts, params = vllm_request(prompts, max_new_tokens, stops)
        sampling: Any = SamplingParams(**params)
        if json_schemas is not None:
            sampling = [SamplingParams(**params, **({} if f is None else _vllm_structured(f)))
                        for f in vllm_structured_outputs(json_schemas)]
        outs = llm.generate(texts, sampling, use_tqdm=False)
        return [(o.outputs[0].text, len(o.outputs[0].token_ids)) for o in outs]

    return generate


def make_generator(model_dir: str | Path, template: str, backend: str = "transformers", max_new_tokens: int = 512,
                   device: str | None = None, bf16: bool = False) -> Generator:
    """A function from a batch of model inputs to (text, generated token count) pairs, stopping where
    ``template`` ends a turn. ``bf16``: decode with the weights in bfloat16 (else the checkpoint's own dtype):
    faster on a CPU with AVX512-/AMX-BF16, and some predictions change (benchmarks/bench_eval_bf16.py)."""
    if backend == "transformers":
        return _transformers_generator(model_dir, max_new_tokens, device, template, bf16)
    if backend == "vllm":
        return _vllm_generator(model_dir, max_new_tokens, template, bf16)
    raise ValueError(f"unknown backend {backend!r}; known: {BACKENDS}")


def predict(records: Sequence[Mapping[str, Any]], model_dir: str | Path, out_file: str | Path,
            backend: str = "transformers", template: str = "qwen3_nothink", style: str = "cm",
            profile: str = "default", max_new_tokens: int = 512, batch_size: int = 8,
            device: str | None = None, generator: Generator | None = None, constrained: bool = False,
            bf16: bool = False) -> list[dict[str, Any]]:
    """Predict every record into ``out_file`` (resuming it) and return the rows in record order.

    Rows are ``{"id", "dataset", "prediction", "n_tokens"}``. ``generator`` replaces the backend (tests,
    callers that keep a model loaded across datasets). ``constrained``: decode each record under the JSON Schema
    of its target (``eval.constrained.output_json_schema``).
    """
    ids = [str(r["id"]) for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("record ids must be unique to resume predictions by id")
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    done = {str(row["id"]): row for row in resume_rows(out_file)}
    todo = [r for r in records if str(r["id"]) not in done]
    if todo:
        generate = generator or make_generator(model_dir, template, backend, max_new_tokens, device, bf16)
        tokenizer = load_tokenizer(str(model_dir))
        with tqdm(total=len(records), initial=len(records) - len(todo), desc=f"predict {out_file.stem}",
                  unit="ex") as bar:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                prompts = [build_prompt(r, template, tokenizer, style, profile) for r in chunk]
                if constrained:
                    outputs = generate(prompts, [output_json_schema(schema_of(r), style) for r in chunk])
                else:
                    outputs = generate(prompts)
                rows = [{"id": str(r["id"]), "dataset": r.get("dataset"), "prediction": text, "n_tokens": n}
                        for r, (text, n) in zip(chunk, outputs)]
                append_rows(out_file, rows)
                done.update((row["id"], row) for row in rows)
                bar.update(len(chunk))
    return [done[i] for i in ids]
