"""SFR hyperparameters as data: ``recipes/reward/sfr.yaml`` is the one place they live.

``load_sfr_config()`` reads that file (or another one) and applies overrides; every key is checked, so a typo
in a recipe or in reward kwargs fails with the file and the key instead of silently using a default. The same
mapping shape is what Hydra composes as the ``reward`` config group, so ``sfr_config(cfg.reward)`` works too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from converters.format import PROFILES

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "recipes" / "reward" / "sfr.yaml"
VARIANTS = ("sfr", "coarse_only", "fine_only")


@dataclass(frozen=True)
class NERWeights:
    """Eq. 7. Coarse gain weight ``w_t``, fine gain weight ``w_p``."""

    w_t: float
    w_p: float
    gamma: float
    lambda_t: float
    lambda_p: float

    @cached_property
    def coarse_weight(self) -> float:
        return self.w_t

    @cached_property
    def fine_weight(self) -> float:
        return self.w_p


@dataclass(frozen=True)
class REWeights:
    """Eq. 8. Coarse gain weight ``w_t``; fine gain weights ``w_h + w_a + w_r`` (H and A are fine sets)."""

    w_t: float
    w_h: float
    w_a: float
    w_r: float
    gamma: float
    lambda_t: float
    lambda_r: float

    @cached_property
    def coarse_weight(self) -> float:
        return self.w_t

    @cached_property
    def fine_weight(self) -> float:
        return self.w_h + self.w_a + self.w_r


@dataclass(frozen=True)
class EEWeights:
    """Eqs. 9-10. Coarse gain weights ``w_E + w_T``, fine gain weight ``w_F``."""

    w_E: float
    w_T: float
    w_F: float
    gamma: float
    lambda_E: float
    lambda_T: float
    lambda_F: float

    @cached_property
    def coarse_weight(self) -> float:
        return self.w_E + self.w_T

    @cached_property
    def fine_weight(self) -> float:
        return self.w_F


TaskWeights = NERWeights | REWeights | EEWeights
_TASK_TYPES: dict[str, type] = {"ner": NERWeights, "re": REWeights, "ee": EEWeights}


@dataclass(frozen=True)
class SFRConfig:
    """Everything that decides a reward value: the variant, clipping, the parse profile, per-task weights."""

    variant: str
    clip: bool
    profile: str
    ner: NERWeights
    re: REWeights
    ee: EEWeights

    def weights(self, task: str) -> TaskWeights:
        """The weights of ``task`` ("ner", "re" or "ee")."""
        return getattr(self, task)


def _fail(where: str, key: str, message: str) -> None:
    raise ValueError(f"{where}: key {key!r}: {message}")


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, key, f"must be a finite number, got {value!r}")
    return float(value)


def _task_weights(task: str, raw: Any, where: str) -> TaskWeights:
    cls = _TASK_TYPES[task]
    if not isinstance(raw, Mapping):
        _fail(where, task, f"must be a mapping of {[f.name for f in fields(cls)]}")
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(map(str, raw)) - set(names))
    missing = [n for n in names if n not in raw]
    if unknown:
        _fail(where, f"{task}.{unknown[0]}", f"unknown; expected one of {names}")
    if missing:
        _fail(where, f"{task}.{missing[0]}", "missing")
    values = {n: _number(raw[n], where, f"{task}.{n}") for n in names}
    for n, v in values.items():
        if n == "gamma" and v <= 0:
            _fail(where, f"{task}.gamma", f"must be > 0 (Eq. 2), got {v}")
        if v < 0:
            _fail(where, f"{task}.{n}", f"must be >= 0, got {v}")
    weights = cls(**values)
    if weights.coarse_weight <= 0 or weights.fine_weight <= 0:
        _fail(where, task, "coarse and fine gain weights must each sum to > 0 (the ablations rescale by them)")
    return weights


def to_plain(value: Any) -> Any:
    """Mappings (including OmegaConf DictConfig) to dicts, recursively."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def sfr_config(mapping: Mapping[str, Any], where: str = "<reward config>") -> SFRConfig:
    """Build and check an ``SFRConfig`` from a full mapping (a loaded YAML file or a composed Hydra group)."""
    raw = to_plain(mapping)
    expected = ("variant", "clip", "profile", "ner", "re", "ee")
    for key in raw:
        if key not in expected:
            _fail(where, key, f"unknown; expected one of {list(expected)}")
    for key in expected:
        if key not in raw:
            _fail(where, key, "missing")
    if raw["variant"] not in VARIANTS:
        _fail(where, "variant", f"must be one of {VARIANTS}, got {raw['variant']!r}")
    if not isinstance(raw["clip"], bool):
        _fail(where, "clip", f"must be true or false, got {raw['clip']!r}")
    if raw["profile"] not in PROFILES:
        _fail(where, "profile", f"must be one of {sorted(PROFILES)}, got {raw['profile']!r}")
    return SFRConfig(raw["variant"], raw["clip"], raw["profile"],
                     *(_task_weights(task, raw[task], where) for task in ("ner", "re", "ee")))


@lru_cache(maxsize=16)
def _read_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the SFR config: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the SFR config must be a YAML mapping")
    return data


def load_sfr_config(path: str | Path | None = None, **overrides: Any) -> SFRConfig:
    """Read the SFR recipe (default ``recipes/reward/sfr.yaml``) and apply ``overrides``.

    Overrides use the file's shape: top-level ``variant``/``clip``/``profile``, and per-task mappings that
    are merged key by key, e.g. ``load_sfr_config(variant="fine_only", ner={"gamma": 2.0})``.
    """
    source = str(path or DEFAULT_PATH)
    if not overrides:
        return _file_config(source)
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _read_yaml(source).items()}
    for key, value in overrides.items():
        if key in _TASK_TYPES and isinstance(merged.get(key), dict) and isinstance(value, Mapping):
            merged[key] = {**merged[key], **to_plain(value)}
        else:
            merged[key] = value
    return sfr_config(merged, where=f"{source} + overrides")


@lru_cache(maxsize=16)
def _file_config(source: str) -> SFRConfig:
    return sfr_config(_read_yaml(source), where=source)
