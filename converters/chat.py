"""The chat wrapping of a prompt, taken from LLaMA-Factory's own template engine: the one source of prompt bytes.

LLaMA-Factory builds SFT inputs from its registered templates (``llamafactory.data.template.TEMPLATES``); TRL,
transformers and vLLM take a ready string, EasyR1 and verl a Jinja chat template. So that a model sees the same
bytes in SFT, in GRPO rollouts and at evaluation, for any template LLaMA-Factory supports (``model.template`` in
the recipe: ``qwen3_nothink``, ``qwen3``, ``smollm2``, ``llama3``, ...), every non-LLaMA-Factory path gets its text
from here, and here it comes from the template's own formatters:

- ``chat_prompt``: the slots LLaMA-Factory's ``Template._encode`` puts before the answer of a one-turn
  conversation (prefix, the template's default system turn, the user turn with its assistant header), as text.
  ProUIE runs reasoning templates without thinking (LLaMA-Factory's ``enable_thinking: false``), whose prompt
  then ends with the template's empty thought (``ReasoningTemplate.add_thought``), exactly as its
  ``encode_oneturn`` does.
- ``engine_chat_template``: the Jinja template LLaMA-Factory itself writes into a tokenizer
  (``Template.fix_jinja_template``), plus that empty thought as the generation prompt of reasoning templates.
- ``stop_tokens``: the tokenizer's end-of-sequence token and the template's stop words.

``tests/converters/test_chat.py`` checks, for ``qwen3_nothink``, ``qwen3`` and ``smollm2``, that the prompt
tokenises to LLaMA-Factory's ``encode_oneturn`` prompt ids and that the Jinja template renders the same text
through the tokenizer's ``apply_chat_template``.
"""

from __future__ import annotations

from typing import Any


def template_of(name: str) -> Any:
    """LLaMA-Factory's registered template ``name``; an unknown name is an error listing how to find names."""
    from llamafactory.data.template import TEMPLATES

    if name not in TEMPLATES:
        raise ValueError(f"unknown chat template {name!r}: model.template must be one of LLaMA-Factory's templates "
                         f"(llamafactory.data.template.TEMPLATES, e.g. qwen3_nothink, qwen3, smollm2, llama3)")
    return TEMPLATES[name]


def is_reasoning(name: str) -> bool:
    """Whether the template is a reasoning one (ProUIE runs it with ``enable_thinking: false``)."""
    from llamafactory.data.template import ReasoningTemplate

    return isinstance(template_of(name), ReasoningTemplate)


def _slot_text(elements: list[Any], tokenizer: Any) -> str:
    """Template slots as text: strings as they are, ``{"token": t}`` as ``t``, ``{"bos_token"}`` / ``{"eos_token"}``
    as the tokenizer's tokens (what ``Template._convert_elements_to_ids`` encodes)."""
    parts = []
    for elem in elements:
        if isinstance(elem, str):
            parts.append(elem)
        elif isinstance(elem, dict):
            parts.append(elem["token"])
        elif "bos_token" in elem and tokenizer.bos_token_id is not None:
            parts.append(tokenizer.bos_token)
        elif "eos_token" in elem and tokenizer.eos_token_id is not None:
            parts.append(tokenizer.eos_token)
    return "".join(parts)


def chat_prompt(user: str, template: str, tokenizer: Any) -> str:
    """The full model input for one user turn, ending where the assistant's answer starts."""
    tpl = template_of(template)
    elements = list(tpl.format_prefix.apply())
    if tpl.default_system:
        elements += tpl.format_system.apply(content=tpl.default_system)
    elements += tpl.format_user.apply(content=user, idx="0")
    text = _slot_text(elements, tokenizer)
    return text + tpl.add_thought() if is_reasoning(template) else text


def _jinja_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def engine_chat_template(template: str, tokenizer: Any) -> str:
    """The Jinja chat template that renders one user message as ``chat_prompt`` does (for EasyR1's
    ``data.override_chat_template`` and verl's ``custom_chat_template``): LLaMA-Factory's own Jinja rendering of
    the template, as ``fix_jinja_template`` installs it, plus the empty thought of reasoning templates."""
    saved = tokenizer.chat_template
    tokenizer.chat_template = None  # fix_jinja_template only fills an empty one
    try:
        template_of(template).fix_jinja_template(tokenizer)
        jinja = tokenizer.chat_template
    finally:
        tokenizer.chat_template = saved
    if not jinja:
        raise ValueError(f"LLaMA-Factory cannot write template {template!r} as Jinja")
    if is_reasoning(template):
        jinja += "{% if add_generation_prompt %}{{ " + _jinja_string(template_of(template).add_thought()) + " }}"
        jinja += "{% endif %}"
    return jinja


def stop_tokens(template: str, tokenizer: Any) -> list[str]:
    """Where generation stops: the tokenizer's end-of-sequence token, then the template's stop words."""
    tokens = [tokenizer.eos_token] if tokenizer.eos_token else []
    return list(dict.fromkeys([*tokens, *template_of(template).stop_words]))
