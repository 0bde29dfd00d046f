"""The embedded smoke model: a tiny Qwen3-architecture causal LM with random weights and a local tokenizer.

It stands in for a real Qwen3 checkpoint wherever the toolkit must run without a GPU or the Hugging Face hub
(the smoke experiment, the tests, CI).  It has the real architecture (``Qwen3ForCausalLM``) and the special
tokens that LLaMA-Factory's ``qwen3`` / ``qwen3_nothink`` templates use, so every code path is the one a real
run takes; only the numbers are small (about 0.3 M parameters, 2 layers, hidden size 64).

The tokenizer is a byte-level BPE trained here, on the bundled data slices under ``data/`` as ``converters``
renders them (texts, prompts, targets), so that prompts and targets tokenise compactly.  Special tokens follow
Qwen3: ``<|endoftext|>`` (pad), ``<|im_start|>``, ``<|im_end|>`` (eos), and the added tokens ``<think>``,
``</think>``, ``<tool_call>``, ``</tool_call>``.

Everything is deterministic for a seed: two builds give byte-identical ``model.safetensors`` and
``tokenizer.json``.  A build takes a few seconds; :func:`ensure_tiny_model` caches it under
``${PROUIE_CACHE:-~/.cache/prouie}/tiny-qwen3-<hash>/``, where the hash covers the builder settings, the corpus,
the seed and the transformers/tokenizers versions.

Usage::

    from launch.models.tiny import ensure_tiny_model
    path = ensure_tiny_model()          # cached; use as model_name_or_path

    python -m launch.models.tiny --out DIR [--seed 0]     # build into DIR
    python -m launch.models.tiny                          # print the cached path (building it if needed)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

from launch.models import hf_compat
from launch.models.cache import cached_build, default_cache_dir

BUILDER_VERSION = 3  # bump when the build changes in a way the settings below do not capture

MODEL_CONFIG: dict = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "tie_word_embeddings": True,
    "max_position_embeddings": 4096,
    # Qwen3's rotary base, not transformers' default 10,000: a folder that a 4.x reader misreads (it falls back to
    # 10,000 when only 5.x's rope_parameters is written) then gives other logits, so hand-off checks can see it.
    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
}
BPE_VOCAB_SIZE = 3000  # trained vocabulary, special tokens included; the added tokens come on top
BPE_MIN_FREQUENCY = 2
MODEL_MAX_LENGTH = 4096

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [PAD_TOKEN, IM_START, IM_END]  # ids 0, 1, 2
ADDED_TOKENS = ["<think>", "</think>", "<tool_call>", "</tool_call>"]  # not special, as in Qwen3

# The tokenizer's own chat template, as a real Qwen3 checkpoint ships one (ChatML without thinking). ProUIE never
# renders prompts with it: every path takes LLaMA-Factory's template (converters/chat.py).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

MANIFEST = "prouie_tiny_model.json"

# ------------------------------------------------------------------------------------------------ corpus


def training_corpus() -> list[str]:
    """The tokenizer's training text, in a fixed order, rendered by ``converters`` (so prompts and targets tokenise
    compactly and never drift from the format): every bundled record's text, its CM and SA targets in each
    profile, and every fourth record's prompt (CM or SA); every fiftieth line also as a ChatML user turn."""
    from converters.bundled import BUNDLED, bundled_records
    from converters.format import PROFILES, STYLES, render_prompt, render_target

    lines: list[str] = []
    for name, entry in BUNDLED.items():
        for split in entry["splits"]:
            for i, record in enumerate(bundled_records(name, split)):
                lines.append(record["text"])
                lines += [render_target(record, style, profile) for style in STYLES for profile in PROFILES]
                if i % 4 == 0:
                    lines.append(render_prompt(record, "sa" if i % 8 == 0 else "cm"))
    chat = [f"{IM_START}user\n{lines[i]}{IM_END}\n{IM_START}assistant\n" for i in range(0, len(lines), 50)]
    return [line for line in lines if line] + chat


# ------------------------------------------------------------------------------------------------ build


def _settings(seed: int) -> dict:
    import tokenizers
    import transformers

    return {
        "builder_version": BUILDER_VERSION,
        "seed": seed,
        "model_config": MODEL_CONFIG,
        "bpe_vocab_size": BPE_VOCAB_SIZE,
        "bpe_min_frequency": BPE_MIN_FREQUENCY,
        "special_tokens": SPECIAL_TOKENS,
        "added_tokens": ADDED_TOKENS,
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": MODEL_MAX_LENGTH,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def settings_hash(seed: int = 0) -> str:
    """The cache key: builder settings, seed, library versions and the corpus text."""
    h = hashlib.sha256(json.dumps(_settings(seed), sort_keys=True).encode())
    for line in training_corpus():
        h.update(line.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def _build_tokenizer(corpus: list[str]):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=BPE_MIN_FREQUENCY,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer, length=len(corpus))
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ADDED_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        unk_token=None,
        chat_template=CHAT_TEMPLATE,
        model_max_length=MODEL_MAX_LENGTH,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(out_dir: str | Path, seed: int = 0) -> Path:
    """Build the tiny model and tokenizer into ``out_dir`` (created; existing files are overwritten).

    Deterministic: the same seed, corpus and library versions give byte-identical files.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer(training_corpus())
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)

    config = Qwen3Config(
        vocab_size=len(tokenizer),
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        **MODEL_CONFIG,
    )
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config).to(torch.float32)
    finally:
        torch.random.set_rng_state(state)
    model.generation_config = GenerationConfig(
        bos_token_id=None, eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    hf_compat.normalise(out)  # readable the same by every environment's transformers (EasyR1's is 4.x)
    manifest = {"name": "prouie-tiny-qwen3", "seed": seed, "settings": _settings(seed),
                "num_parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def ensure_tiny_model(cache_dir: str | Path | None = None, seed: int = 0) -> Path:
    """The cached tiny model's folder, built first when missing (safe when several processes race)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cached_build(root / f"tiny-qwen3-{settings_hash(seed)}", MANIFEST, lambda tmp: build_tiny_model(tmp, seed))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="build into this folder (default: the cache; prints its path)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = build_tiny_model(args.out, seed=args.seed) if args.out else ensure_tiny_model(seed=args.seed)
    print(path)


if __name__ == "__main__":
    main()
