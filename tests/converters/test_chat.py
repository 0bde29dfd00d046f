"""The chat wrapping is LLaMA-Factory's: ``chat_prompt`` (TRL, transformers and vLLM inputs) and the EasyR1
template, as the tokenizer applies it, give the prompt tokens of LLaMA-Factory's own ``encode_oneturn``."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from converters.bundled import bundled_records
from converters.chat import TEMPLATES, chat_prompt, easyr1_chat_template
from converters.format import render_prompt, render_target

RECORDS = [bundled_records(name, "test")[0] for name in ("ncbi", "semeval", "phee")]


def llamafactory_prompt_ids(model_dir, template: str, user: str, answer: str) -> list[int]:
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    extra = {"enable_thinking": False} if template == "qwen3" else {}  # launch/sft_llamafactory.py sets the same
    lf_template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=template, **extra))
    prompt_ids, _ = lf_template.encode_oneturn(tokenizer, [{"role": "user", "content": user},
                                                           {"role": "assistant", "content": answer}])
    return prompt_ids


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["task"])
def test_every_path_gives_llamafactory_s_prompt_tokens(tiny_model_dir, template, record):
    user = render_prompt(record, "sa")
    want = llamafactory_prompt_ids(tiny_model_dir, template, user, render_target(record, "sa"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ours = chat_prompt(user, template)
    assert tokenizer.decode(want, skip_special_tokens=False) == ours
    assert tokenizer(ours, add_special_tokens=False)["input_ids"] == want
    easyr1 = tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True,
                                           tokenize=False, chat_template=easyr1_chat_template(template))
    assert easyr1 == ours


def test_an_unsupported_template_is_an_error():
    for build in (lambda: chat_prompt("x", "llama3"), lambda: easyr1_chat_template("llama3")):
        with pytest.raises(ValueError, match="unsupported chat template 'llama3'"):
            build()
