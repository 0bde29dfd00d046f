"""The prompt bytes come from LLaMA-Factory's template engine and are the same on every path, for three templates.

Checked against the other side's own code: LLaMA-Factory's ``get_template_and_fix_tokenizer`` + ``encode_oneturn``
(what SFT trains on), the tokenizer's ``apply_chat_template`` with our Jinja (what EasyR1 and verl render), and, for
SmolLM2, the chat template the model ships with.
"""

from __future__ import annotations

import copy

import pytest
from llamafactory.data.template import get_template_and_fix_tokenizer
from llamafactory.hparams import DataArguments
from transformers import AutoTokenizer

from converters.bundled import bundled_records
from converters.chat import chat_prompt, engine_chat_template, stop_tokens
from converters.format import render_prompt, render_target

RECORDS = [bundled_records("ncbi", "test")[0], bundled_records("semeval", "test")[0],
           bundled_records("phee", "test")[0], bundled_records("crossner_music", "test")[3]]
TEMPLATES = {"qwen3_nothink": "tiny_model_dir", "qwen3": "tiny_model_dir", "smollm2": "smollm2_dir"}


# The SmolLM2 case converts the real model (tests/conftest.py's smollm2_dir), so it is in the slow tier.
@pytest.fixture(params=[pytest.param(t, marks=pytest.mark.slow) if TEMPLATES[t] == "smollm2_dir" else t
                        for t in sorted(TEMPLATES)])
def template_and_tokenizer(request):
    model_dir = request.getfixturevalue(TEMPLATES[request.param])
    return request.param, AutoTokenizer.from_pretrained(str(model_dir))


def llamafactory_prompt_ids(template: str, tokenizer, user: str, answer: str) -> list[int]:
    """The prompt ids LLaMA-Factory's SFT encodes for a (user, answer) example, as its trainer sets it up."""
    tokenizer = copy.deepcopy(tokenizer)
    lf_template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=template, enable_thinking=False))
    prompt_ids, _ = lf_template.encode_oneturn(tokenizer, [{"role": "user", "content": user},
                                                           {"role": "assistant", "content": answer}])
    return prompt_ids


@pytest.mark.parametrize("style", ["cm", "sa"])
def test_the_prompt_is_what_llamafactory_trains_on(template_and_tokenizer, style):
    template, tokenizer = template_and_tokenizer
    for record in RECORDS:
        user = render_prompt(record, style)
        text = chat_prompt(user, template, tokenizer)
        assert text.endswith(user + "<|im_end|>\n<|im_start|>assistant\n" + ("<think>\n\n</think>\n\n"
                                                                             if template == "qwen3" else ""))
        ours = tokenizer.encode(text, add_special_tokens=False)
        assert ours == llamafactory_prompt_ids(template, tokenizer, user, render_target(record, style))


def test_the_engines_jinja_renders_the_same_bytes(template_and_tokenizer):
    template, tokenizer = template_and_tokenizer
    tokenizer.chat_template = engine_chat_template(template, tokenizer)
    for record in RECORDS:
        user = render_prompt(record, "sa")
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                                 add_generation_prompt=True)
        assert rendered == chat_prompt(user, template, tokenizer)


def test_generation_stops_at_the_end_of_turn(template_and_tokenizer):
    template, tokenizer = template_and_tokenizer
    assert "<|im_end|>" in stop_tokens(template, tokenizer)
    assert all(tokenizer.convert_tokens_to_ids(t) != tokenizer.unk_token_id for t in stop_tokens(template, tokenizer))


def test_smollm2s_own_chat_template_differs_from_llamafactorys_only_by_one_period(smollm2_dir):
    """Why the mini recipe's template is LLaMA-Factory's ``smollm2``: the model's own template says the same,
    except that LLaMA-Factory ends the default system sentence with a period."""
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir))
    user = render_prompt(RECORDS[0], "sa")
    own = tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                        add_generation_prompt=True)
    ours = chat_prompt(user, "smollm2", tokenizer)
    assert ours == own.replace("trained by Hugging Face<|im_end|>", "trained by Hugging Face.<|im_end|>")
    assert ours != own


def test_unknown_template_names_what_to_choose_from():
    with pytest.raises(ValueError, match="unknown chat template 'chatml-x'.*LLaMA-Factory"):
        chat_prompt("x", "chatml-x", None)
