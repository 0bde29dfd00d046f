"""What one Python environment makes of a model folder: token ids and fp32 logits on a few fixed inputs.

    <env python> -m launch.models.probe <model dir> <out.safetensors>

Runs in any of ProUIE's environments (the main one, EasyR1's, verl's) with only torch, transformers and
safetensors; ``launch.models.handoff`` runs it in the environment that wrote a model and in the one that reads it next,
and compares. The inputs are a chat turn with ProUIE's special tokens, an extraction answer and plain text, so a
changed tokenizer (ids, special tokens) or changed weights, rotary settings or architecture all show.
The output holds ``ids_<i>`` and ``logits_<i>`` per input, and the tokenizer's special tokens in its metadata.
"""

from __future__ import annotations

import json
import sys

PROBE_TEXTS = (
    "<|im_start|>user\nExtract the entities (person, location) from: Kevin met Ann in Paris.<|im_end|>\n"
    "<|im_start|>assistant\n",
    '{"person": "Kevin | Ann", "location": "Paris", "organisation": ""}<|im_end|>',
    "The aspirin dose was reduced after the patient developed a rash on day 3.",
)


def probe(model_dir: str, out_path: str) -> None:
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    tensors = {}
    with torch.no_grad():
        for i, text in enumerate(PROBE_TEXTS):
            ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            tensors[f"ids_{i}"] = ids[0].contiguous()
            tensors[f"logits_{i}"] = model(input_ids=ids).logits[0].float().contiguous()
    special = {"eos_token": tokenizer.eos_token, "pad_token": tokenizer.pad_token,
               "special_tokens": sorted(tokenizer.all_special_tokens)}
    save_file(tensors, out_path, metadata={"special": json.dumps(special), "transformers": transformers.__version__,
                                           "tokenizer_class": type(tokenizer).__name__})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m launch.models.probe <model dir> <out.safetensors>")
    probe(sys.argv[1], sys.argv[2])
