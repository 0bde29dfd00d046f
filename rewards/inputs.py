"""What the framework adapters share: decoding the gold answer and the reward kwargs, both cached.

In GRPO every prompt's answer arrives once per rollout (n = 4 or 8 times per step), and the kwargs are the same
on every call, so both are decoded once and reused; this keeps batch scoring at the cost of parsing responses.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Mapping

from converters.records import record_from_answer
from rewards.config import SFRConfig, load_sfr_config, to_plain
from rewards.sfr import Gold, prepare_gold

REWARD_KWARGS = ("config", "variant", "clip", "profile", "ner", "re", "ee")


@lru_cache(maxsize=8192)
def _gold_from_text(answer: str) -> Gold:
    try:
        record = record_from_answer(answer)
    except ValueError as exc:
        raise ValueError(f"ground_truth: not a JSON record ({exc}): {answer[:80]!r}") from None
    return prepare_gold(record, "ground_truth")


def gold_from_answer(answer: str | Mapping[str, Any]) -> Gold:
    """The prepared gold of a GRPO ``answer`` / ``ground_truth`` (the canonical record, JSON text or a dict)."""
    if isinstance(answer, str):
        return _gold_from_text(answer)
    if isinstance(answer, Mapping):
        return prepare_gold(dict(answer), "ground_truth")
    raise ValueError(f"ground_truth: expected the record as JSON text or a mapping, got {type(answer).__name__}")


@lru_cache(maxsize=64)
def _config_from_json(text: str) -> SFRConfig:
    kwargs = json.loads(text)
    return load_sfr_config(kwargs.pop("config", None), **kwargs)


def config_from_kwargs(kwargs: Mapping[str, Any]) -> SFRConfig:
    """The SFR config for adapter kwargs: ``config`` (another YAML path), ``variant``, ``clip``, ``profile``
    and per-task weight overrides ``ner`` / ``re`` / ``ee`` as mappings (e.g. ``ner={"gamma": 2.0}``)."""
    if not kwargs:
        return load_sfr_config()
    unknown = sorted(set(kwargs) - set(REWARD_KWARGS))
    if unknown:
        raise ValueError(f"reward kwargs: unknown key {unknown[0]!r}; expected some of {list(REWARD_KWARGS)}")
    return _config_from_json(json.dumps(to_plain(kwargs), sort_keys=True, default=str))
