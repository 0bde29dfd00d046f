"""What the framework adapters share: decoding the gold answer and the reward kwargs, both cached.

In GRPO every prompt's answer arrives once per rollout (n = 4 or 8 times per step), and the kwargs are the same
on every call, so both are decoded once and reused; this keeps batch scoring at the cost of parsing responses.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Mapping

from converters.records import record_from_answer
from rewards.config import KEYS, SFRConfig, load_sfr_config, sfr_config, to_plain
from rewards.sfr import Gold, prepare_gold

REWARD_KWARGS = ("config", *KEYS)


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
    return sfr_config(json.loads(text), where="reward kwargs")


def config_from_kwargs(kwargs: Mapping[str, Any]) -> SFRConfig:
    """The SFR config of adapter kwargs: either the whole config (``variant``, ``clip``, ``profile``, ``ner``,
    ``re``, ``ee``: what the planner writes into every DE stage's config), or ``config`` (the path of an SFR
    YAML file, e.g. ``recipes/reward/sfr.yaml``) plus overrides of its keys (``profile`` is required then: the
    recipe file has none). There is no default: a reward silently scored with other settings than the run's
    data and eval is exactly what this refuses."""
    unknown = sorted(set(kwargs) - set(REWARD_KWARGS))
    if unknown:
        raise ValueError(f"reward kwargs: unknown key {unknown[0]!r}; expected some of {list(REWARD_KWARGS)}")
    if "config" in kwargs:
        rest = {k: v for k, v in kwargs.items() if k != "config"}
        return load_sfr_config(kwargs["config"], **to_plain(rest))
    if not kwargs:
        raise ValueError(f"reward kwargs: empty; give the SFR config ({', '.join(KEYS)}) or "
                         f"config=<path of an SFR YAML> with profile=<default|paper>")
    return _config_from_json(json.dumps(to_plain(kwargs), sort_keys=True, default=str))
