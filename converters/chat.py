"""The chat wrapping around a prompt, identical to what LLaMA-Factory trains on.

LLaMA-Factory builds training inputs from its own template slots, not from the tokenizer's chat template,
while TRL, vLLM and EasyR1 use the tokenizer's template. To keep the model input byte-identical in SFT,
GRPO rollouts and evaluation, every non-LLaMA-Factory path builds it here, and EasyR1 receives
``easyr1_chat_template`` through ``data.override_chat_template``. Qwen3 runs without thinking; the recipe
key ``model.template`` picks how (LLaMA-Factory note §5):

- ``qwen3_nothink``: plain ChatML, no think tokens anywhere (the default).
- ``qwen3``: ChatML with ``enable_thinking: false``, i.e. an empty think block ends the prompt.
"""

from __future__ import annotations

TEMPLATES = ("qwen3_nothink", "qwen3")
_EMPTY_THINK = "<think>\n\n</think>\n\n"


def _check(template: str) -> None:
    if template not in TEMPLATES:
        raise ValueError(f"unsupported chat template {template!r}; supported: {TEMPLATES}")


def chat_prompt(user: str, template: str = "qwen3_nothink") -> str:
    """The full model input for one user turn, ending where the assistant's answer starts."""
    _check(template)
    head = f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    return head + _EMPTY_THINK if template == "qwen3" else head


def easyr1_chat_template(template: str = "qwen3_nothink") -> str:
    """A Jinja chat template that renders a single user message exactly as ``chat_prompt`` does."""
    _check(template)
    think = _EMPTY_THINK.replace("\n", "\\n") if template == "qwen3" else ""
    return (
        "{%- for message in messages -%}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n" + think + "' }}{%- endif -%}"
    )
