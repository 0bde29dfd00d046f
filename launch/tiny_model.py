"""The embedded smoke model: a tiny Qwen3-architecture causal LM with random weights and a local tokenizer.

It stands in for a real Qwen3 checkpoint wherever the toolkit must run without a GPU or the Hugging Face hub
(the smoke experiment, the tests, CI).  It has the real architecture (``Qwen3ForCausalLM``) and the special
tokens that LLaMA-Factory's ``qwen3`` / ``qwen3_nothink`` templates use, so every code path is the one a real
run takes; only the numbers are small (about 0.3 M parameters, 2 layers, hidden size 64).

The tokenizer is a byte-level BPE trained here, on the text of the bundled data slices under ``data/`` plus a
generated corpus of the prompt wording and output punctuation that ProUIE uses, so that prompts and targets
tokenise compactly.  Special tokens follow Qwen3: ``<|endoftext|>`` (pad), ``<|im_start|>``, ``<|im_end|>``
(eos), and the added tokens ``<think>``, ``</think>``, ``<tool_call>``, ``</tool_call>``.

Everything is deterministic for a seed: two builds give byte-identical ``model.safetensors`` and
``tokenizer.json``.  A build takes a few seconds; :func:`ensure_tiny_model` caches it under
``${PROUIE_CACHE:-~/.cache/prouie}/tiny-qwen3-<hash>/``, where the hash covers the builder settings, the corpus,
the seed and the transformers/tokenizers versions.

Usage::

    from launch.tiny_model import ensure_tiny_model
    path = ensure_tiny_model()          # cached; use as model_name_or_path

    python -m launch.tiny_model --out DIR [--seed 0]     # build into DIR
    python -m launch.tiny_model                          # print the cached path (building it if needed)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from launch import hf_compat

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / "data"
BUILDER_VERSION = 2  # bump when the build changes in a way the settings below do not capture

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

# ChatML as Qwen3 renders it without thinking (what LLaMA-Factory's qwen3_nothink template produces).  Only used
# for inference outside LLaMA-Factory, which builds prompts from its own template.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

MANIFEST = "prouie_tiny_model.json"

# ------------------------------------------------------------------------------------------------ corpus

# The prompt wording of converters/format.py (copied, so that this builder has no dependency on it; if the
# wording drifts, only compression suffers) and the punctuation of the output formats.
_NER_PROMPT = (
    "You are an information extraction assistant. Strictly extract {n} slots ({slots}) from the user input. "
    "Slot values must be exact substrings of the input. If a slot has multiple values, join them with ' | ' in "
    "the order of first appearance and remove duplicates."
)
_RE_PROMPT = (
    "You are an information extraction assistant. Strictly extract relation pairs for the following relation "
    "types ({slots}) from the user input. Values must be exact substrings of the input. If a relation has "
    "multiple pairs, join them with ' | ' in the order of first appearance, and each pair must be formatted as "
    "'word1, word2' ."
)
_EE_PROMPT = (
    "You are an information extraction assistant. Strictly extract events for the following event types from "
    "the user input and reply with a single JSON object only. The keys MUST be exactly these event types: "
    "[{slots}]. For each event type, group arguments by trigger. Format each group as "
    "`TRIGGER: ROLE: argument; ROLE: argument`. Valid roles include: [{roles}]. If an event type has several "
    "trigger groups, join them with ' | '."
)
_CONCISE = "Please use concise output with no empty fields."
_INPUT = " The user input is:\n"


def _bio_sentences(path: Path) -> Iterator[list[tuple[str, str]]]:
    sentence: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 2:
            if sentence:
                yield sentence
            sentence = []
            continue
        sentence.append((parts[0], parts[-1]))
    if sentence:
        yield sentence


def _bio_spans(sentence: list[tuple[str, str]]) -> dict[str, list[str]]:
    spans: dict[str, list[str]] = {}
    current: list[str] = []
    kind = None
    for token, tag in [*sentence, ("", "O")]:
        if tag.startswith("I-") and kind == tag[2:]:
            current.append(token)
            continue
        if kind is not None:
            spans.setdefault(kind, []).append(" ".join(current))
        kind, current = (tag[2:], [token]) if tag[:2] in ("B-", "I-") else (None, [])
    return spans


def _json_obj(pairs: dict[str, str]) -> str:
    return json.dumps(pairs, ensure_ascii=False)


def _ner_lines(data_dir: Path) -> Iterator[str]:
    files = sorted(data_dir.glob("crossner/**/*.txt")) + sorted(data_dir.glob("ncbi_disease/**/*.tsv"))
    for path in files:
        sentences = list(_bio_sentences(path))
        labels = sorted({tag[2:] for s in sentences for _, tag in s if tag[:2] in ("B-", "I-")})
        prompt = _NER_PROMPT.format(n=len(labels), slots=", ".join(labels))
        for i, sentence in enumerate(sentences):
            text = " ".join(token for token, _ in sentence)
            yield text
            spans = _bio_spans(sentence)
            target = {label: " | ".join(dict.fromkeys(spans.get(label, []))) for label in labels}
            if i % 4 == 0:
                yield prompt + (" " + _CONCISE if i % 8 == 0 else "") + _INPUT + text
            yield _json_obj(target)
            yield _json_obj({k: v for k, v in target.items() if v})


_SEMEVAL_LINE = re.compile(r'^\d+\t"(.*)"\s*$')
_SEMEVAL_REL = re.compile(r"^([A-Za-z]+-[A-Za-z]+)\((e[12]),(e[12])\)\s*$")
_TAG = re.compile(r"</?e[12]>")


def _re_lines(data_dir: Path) -> Iterator[str]:
    files = sorted(data_dir.glob("semeval_re/**/*.TXT"))
    records = []
    for path in files:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines):
            m = _SEMEVAL_LINE.match(line)
            if not m or i + 1 >= len(lines):
                continue
            raw = m.group(1)
            e1 = re.search(r"<e1>(.*?)</e1>", raw)
            e2 = re.search(r"<e2>(.*?)</e2>", raw)
            rel = _SEMEVAL_REL.match(lines[i + 1])
            records.append((_TAG.sub("", raw), e1.group(1) if e1 else "", e2.group(1) if e2 else "", rel))
    relations = sorted({r.group(1) for *_, r in records if r})
    prompt = _RE_PROMPT.format(slots=", ".join(relations))
    for i, (text, e1, e2, rel) in enumerate(records):
        yield text
        if i % 4 == 0:
            yield prompt + (" " + _CONCISE if i % 8 == 0 else "") + _INPUT + text
        target = dict.fromkeys(relations, "")
        if rel:
            head, tail = (e1, e2) if rel.group(2) == "e1" else (e2, e1)
            target[rel.group(1)] = f"{head}, {tail}"
        yield _json_obj(target)
        yield _json_obj({k: v for k, v in target.items() if v})


def _phee_args(node: dict) -> Iterator[tuple[str, str]]:
    for key, value in node.items():
        if isinstance(value, dict) and "text" in value:
            for group in value["text"]:
                yield key, " ".join(group)
            yield from _phee_args(value)


def _ee_lines(data_dir: Path) -> Iterator[str]:
    rows = []
    for path in sorted(data_dir.glob("phee/**/*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    events = [ev for row in rows for ann in row.get("annotations", []) for ev in ann.get("events", [])]
    types = sorted({ev.get("event_type", "") for ev in events} - {""})
    roles = sorted({role for ev in events for role, _ in _phee_args(ev)} - {"Trigger"})
    prompt = _EE_PROMPT.format(slots=", ".join(types), roles=", ".join(roles))
    for i, row in enumerate(rows):
        text = row.get("context", "")
        yield text
        if i % 4 == 0:
            yield prompt + (" " + _CONCISE if i % 8 == 0 else "") + _INPUT + text
        target = dict.fromkeys(types, "")
        for ann in row.get("annotations", []):
            for ev in ann.get("events", []):
                args = list(_phee_args(ev))
                trigger = next((t for r, t in args if r == "Trigger"), "")
                body = "; ".join(f"{r}: {t}" for r, t in args if r != "Trigger")
                group = f"{trigger}: {body}" if body else trigger
                kind = ev.get("event_type", "")
                target[kind] = f"{target[kind]} | {group}" if target.get(kind) else group
        yield _json_obj(target)
        yield _json_obj({k: v for k, v in target.items() if v})


def training_corpus(data_dir: str | Path | None = None) -> list[str]:
    """The tokenizer's training text, in a fixed order: the bundled data plus the generated prompt/target text."""
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    if not data_dir.is_dir():
        raise FileNotFoundError(f"bundled data folder not found: {data_dir}")
    lines = [*_ner_lines(data_dir), *_re_lines(data_dir), *_ee_lines(data_dir)]
    chat = [f"{IM_START}user\n{lines[i]}{IM_END}\n{IM_START}assistant\n" for i in range(0, len(lines), 50)]
    lines = [line for line in lines if line] + chat
    if len(lines) < 100:
        raise ValueError(f"the tokenizer corpus from {data_dir} has only {len(lines)} lines; is data/ complete?")
    return lines


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


def settings_hash(seed: int = 0, data_dir: str | Path | None = None) -> str:
    """The cache key: builder settings, seed, library versions and the corpus text."""
    h = hashlib.sha256(json.dumps(_settings(seed), sort_keys=True).encode())
    for line in training_corpus(data_dir):
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


def build_tiny_model(out_dir: str | Path, seed: int = 0, data_dir: str | Path | None = None) -> Path:
    """Build the tiny model and tokenizer into ``out_dir`` (created; existing files are overwritten).

    Deterministic: the same seed, corpus and library versions give byte-identical files.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer(training_corpus(data_dir))
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


def default_cache_dir() -> Path:
    return Path(os.environ.get("PROUIE_CACHE") or Path.home() / ".cache" / "prouie")


def ensure_tiny_model(cache_dir: str | Path | None = None, seed: int = 0, data_dir: str | Path | None = None) -> Path:
    """The cached tiny model's folder, built first when missing (safe when several processes race)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = root / f"tiny-qwen3-{settings_hash(seed, data_dir)}"
    if (final / MANIFEST).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{uuid.uuid4().hex[:8]}.", dir=root))
    try:
        build_tiny_model(tmp, seed=seed, data_dir=data_dir)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            os.rename(tmp, final)  # atomic; fails when another process finished first
        except OSError:
            if not (final / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="build into this folder (default: the cache; prints its path)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help=f"bundled data folder (default {DEFAULT_DATA_DIR})")
    args = parser.parse_args(argv)
    if args.out:
        path = build_tiny_model(args.out, seed=args.seed, data_dir=args.data_dir)
    else:
        path = ensure_tiny_model(seed=args.seed, data_dir=args.data_dir)
    print(path)


if __name__ == "__main__":
    main()
