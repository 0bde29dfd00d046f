"""Prediction backends: the prompt is LLaMA-Factory's, generation is resumable, vLLM requests are greedy."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converters.bundled import bundled_records
from converters.format import render_prompt
from eval.attention import register as register_sdpa_gqa
from eval.predict import build_prompt, generate_tokens, make_generator, predict, shared_prefix, vllm_request


def test_the_prompt_is_the_llamafactory_template_text_of_the_user_turn(tiny_model_dir: Path) -> None:
    """Token identity with LLaMA-Factory's encoding is tests/converters/test_chat.py; here: the eval prompt is it."""
    from converters.chat import chat_prompt
    from eval.predict import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    for record in bundled_records("phee", "test")[:3] + bundled_records("semeval", "test")[:3]:
        for template in ("qwen3_nothink", "qwen3"):
            assert build_prompt(record, template, tokenizer, "sa") == chat_prompt(render_prompt(record, "sa"),
                                                                                 template, tokenizer)


def test_transformers_predict_resumes(tiny_model_dir: Path, tmp_path: Path) -> None:
    records = bundled_records("ncbi", "test")[:5]
    out = tmp_path / "preds" / "ncbi.jsonl"
    calls: list[int] = []
    real = make_generator(tiny_model_dir, "qwen3_nothink", "transformers", max_new_tokens=6, device="cpu")

    def counting(prompts: list[str]) -> list[tuple[str, int]]:
        calls.append(len(prompts))
        return real(prompts)

    first = predict(records[:3], tiny_model_dir, out, batch_size=2, generator=counting)
    assert calls == [2, 1] and [r["id"] for r in first] == [r["id"] for r in records[:3]]
    assert all(isinstance(r["prediction"], str) and 0 < r["n_tokens"] <= 6 for r in first)
    with open(out, "a", encoding="utf-8") as f:  # an interrupted write of the next row
        f.write('{"id": "' + records[3]["id"] + '", "predi')
    rows = predict(records, tiny_model_dir, out, batch_size=4, generator=counting)
    assert calls == [2, 1, 2]  # only records 3 and 4 were generated again
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and all(json.loads(x)["id"] for x in lines)
    assert rows[:3] == first  # greedy + resumed: the first rows are untouched


def test_greedy_generation_is_deterministic(tiny_model_dir: Path) -> None:
    from eval.predict import load_tokenizer

    gen = make_generator(tiny_model_dir, "qwen3_nothink", "transformers", max_new_tokens=5, device="cpu")
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompts = [build_prompt(r, "qwen3_nothink", tokenizer) for r in bundled_records("crossner_ai", "test")[:3]]
    batched = gen(prompts)
    assert batched == gen(prompts) and batched[1] == gen([prompts[1]])[0]  # left padding leaves outputs unchanged


@given(st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=8), max_size=6))
def test_shared_prefix_is_the_longest_common_one_leaving_every_row_a_token(rows: list[list[int]]) -> None:
    n = shared_prefix(rows)
    if len(rows) < 2:
        assert n == 0
        return
    assert 0 <= n < min(len(r) for r in rows)
    assert all(r[:n] == rows[0][:n] for r in rows)
    if n < min(len(r) for r in rows) - 1:  # not stopped by the one-own-token rule: the rows differ right there
        assert len({r[n] for r in rows}) > 1


def test_shared_prefix_decoding_gives_the_tokens_of_transformers_generate(tiny_model_dir: Path) -> None:
    """The fast path (prefix encoded once, finished rows dropped) against transformers' own generate()."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir), padding_side="left")
    config = AutoConfig.from_pretrained(str(tiny_model_dir))
    config.initializer_range = 0.5  # large random weights: every token depends on the context and its position
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()  # (the trained tiny model repeats one token)
    assert config.num_attention_heads > config.num_key_value_heads  # grouped K/V: what sdpa_gqa changes
    fast = AutoModelForCausalLM.from_config(config, attn_implementation=register_sdpa_gqa()).eval()
    fast.load_state_dict(model.state_dict())
    records = bundled_records("crossner_ai", "test")[:3] + bundled_records("crossner_music", "test")[:2]
    prompts = [build_prompt(r, "qwen3_nothink", tokenizer) for r in records]  # two instructions, rows of all lengths
    rows = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    assert shared_prefix(rows[:3]) > len(rows[0]) // 2 and shared_prefix(rows) > 0

    def reference(stops: list[int]) -> list[list[int]]:
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**batch, do_sample=False, max_new_tokens=12, eos_token_id=stops or None,
                                 pad_token_id=tokenizer.pad_token_id)
        cut = [row[batch["input_ids"].shape[1]:] for row in out.tolist()]
        return [row[:next((k + 1 for k, t in enumerate(row) if t in stops), len(row))] for row in cut]

    full = reference([])
    assert generate_tokens(model, tokenizer, prompts, 12, set()) == full
    assert generate_tokens(fast, tokenizer, prompts, 12, set()) == full
    stops = sorted({full[2][5], full[3][8]})  # rows end at different steps: dropped from the batch one by one
    expected = reference(stops)
    assert len({len(r) for r in expected}) > 1
    assert generate_tokens(model, tokenizer, prompts, 12, set(stops)) == expected
    assert generate_tokens(fast, tokenizer, prompts, 12, set(stops)) == expected


def test_bf16_decodes_with_the_weights_in_bfloat16(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``bf16=True`` (eval config ``bf16``) casts the checkpoint's weights to bfloat16 for decoding; false keeps the
    checkpoint's fp32. Each generator gives the tokens of the fast path on the model loaded in that dtype."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(str(tiny_model_dir))
    config.initializer_range = 0.5  # large random weights: bf16's rounding changes some argmax
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tokenizer.save_pretrained(tmp_path)
    prompts = [build_prompt(r, "qwen3_nothink", tokenizer) for r in bundled_records("crossner_ai", "test")[:4]]
    outputs = {}
    for bf16, dtype in ((False, torch.float32), (True, torch.bfloat16)):
        model = AutoModelForCausalLM.from_pretrained(str(tmp_path), dtype=dtype,
                                                     attn_implementation=register_sdpa_gqa())
        expected = [tokenizer.decode(row) for row in generate_tokens(model.eval(), tokenizer, prompts, 10, set())]
        gen = make_generator(tmp_path, "qwen3_nothink", "transformers", max_new_tokens=10, device="cpu", bf16=bf16)
        outputs[bf16] = [text for text, _ in gen(prompts)]
        assert outputs[bf16] == expected
    assert outputs[True] != outputs[False]


def test_vllm_request_and_missing_vllm() -> None:
    prompts, params = vllm_request(["a", "b"], 64, ["<|im_end|>"])
    assert prompts == ["a", "b"]
    assert params == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 64, "stop": ["<|im_end|>"],
                      "skip_special_tokens": True}
    if importlib.util.find_spec("vllm") is None:  # a GPU extra: without it, the error says how to get it
        with pytest.raises(RuntimeError, match=r"pip install 'prouie\[gpu\]'"):
            make_generator("/nonexistent", "qwen3_nothink", "vllm")
    with pytest.raises(ValueError, match="unknown backend"):
        make_generator("/nonexistent", "qwen3_nothink", "tgi")
