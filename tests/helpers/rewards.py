"""The reward configuration tests score with: the recipe's SFR values and a profile, as the planner builds it."""

from __future__ import annotations

from typing import Any

from rewards.config import RECIPE_PATH, SFRConfig, load_sfr_config


def recipe_config(**overrides: Any) -> SFRConfig:
    """``recipes/reward/sfr.yaml`` with the ``default`` profile unless ``overrides`` say otherwise."""
    return load_sfr_config(RECIPE_PATH, **{"profile": "default", **overrides})


def recipe_kwargs(**overrides: Any) -> dict[str, Any]:
    """The whole SFR config as plain data, the way the planner writes it into a DE stage's reward kwargs."""
    import yaml

    raw = yaml.safe_load(RECIPE_PATH.read_text(encoding="utf-8"))
    raw["profile"] = "default"
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return raw
