"""Hugging Face model folders that transformers 4.x and 5.x read the same way.

LLaMA-Factory and TRL (the main environment) write with transformers 5.6, EasyR1 reads and writes with 4.57, verl
with another 5.x. Left alone, a folder written by one is silently misread by the other (notes §0):

- ``config.json``: 5.x writes the rotary settings only as ``rope_parameters``; 4.x ignores that key and falls back
  to ``rope_theta = 10000`` (Qwen3 trains with 1,000,000), with no error. Both legacy keys are added.
- ``tokenizer_config.json``: 5.x names its generic fast tokenizer ``TokenizersBackend`` (unknown to 4.x) and
  writes ``extra_special_tokens`` as a list (4.x expects a mapping and fails with ``'list' object has no
  attribute 'keys'``); they become ``PreTrainedTokenizerFast`` (both know it) and ``additional_special_tokens``.

:func:`normalise` edits only these keys, in place, and says what it changed; whether the result really is the
same model in both environments is what ``launch.models.handoff`` checks (same tokens, same logits).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GENERIC_TOKENIZER = "PreTrainedTokenizerFast"


def _rope_legacy_keys(config: dict[str, Any]) -> dict[str, Any]:
    """``rope_theta`` / ``rope_scaling`` as 4.x reads them, from 5.x's ``rope_parameters``."""
    rope = config.get("rope_parameters")
    if not isinstance(rope, dict) or "rope_theta" not in rope:
        return {}
    added = {}
    if "rope_theta" not in config:
        added["rope_theta"] = rope["rope_theta"]
    scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    if "rope_scaling" not in config:
        added["rope_scaling"] = scaling if scaling.get("rope_type", "default") != "default" else None
    return added


def _tokenizer_changes(tok: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keys to set and keys to drop in a 5.x ``tokenizer_config.json`` so that 4.x reads it."""
    new: dict[str, Any] = {}
    drop: list[str] = []
    if tok.get("tokenizer_class") == "TokenizersBackend":
        new["tokenizer_class"] = GENERIC_TOKENIZER
    extra = tok.get("extra_special_tokens")
    if isinstance(extra, list):
        drop.append("extra_special_tokens")
        new["additional_special_tokens"] = list(dict.fromkeys([*(tok.get("additional_special_tokens") or []),
                                                               *extra]))
    return new, drop


def _rewrite(path: Path, new: dict[str, Any], drop: list[str] | None = None) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(new)
    for key in drop or []:
        data.pop(key, None)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [f"{path.name}: {key} = {json.dumps(value)}" for key, value in new.items()] + \
        [f"{path.name}: {key} removed" for key in drop or []]


def normalise(model_dir: str | Path) -> list[str]:
    """Make a model folder read the same under transformers 4.x and 5.x; returns what changed (empty: nothing)."""
    model_dir = Path(model_dir)
    changed = []
    config = model_dir / "config.json"
    if config.is_file():
        added = _rope_legacy_keys(json.loads(config.read_text(encoding="utf-8")))
        if added:
            changed += _rewrite(config, added)
    tok = model_dir / "tokenizer_config.json"
    if tok.is_file():
        new, drop = _tokenizer_changes(json.loads(tok.read_text(encoding="utf-8")))
        if new or drop:
            changed += _rewrite(tok, new, drop)
    return changed


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m launch.models.hf_compat <model folder>   (edits config.json and "
                         "tokenizer_config.json in place)")
    for line in normalise(sys.argv[1]) or ["nothing to change"]:
        print(line)
