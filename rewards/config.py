"""SFR hyperparameters as data: ``recipes/reward/sfr.yaml`` is the one place their values live.

Nothing here has a default: the reward functions take an ``SFRConfig`` explicitly, and the pipeline's planner
builds it once per run from the recipe's ``reward`` group plus the run's output-format profile (``format_profile``,
the one fact that data, rewards and eval share), then hands it to each DE stage. ``sfr_config(mapping)`` checks a
full mapping (every key, so a typo fails with the key instead of silently using a default);
``load_sfr_config(path, **overrides)`` reads a YAML file of that shape (the recipe file holds no ``profile``: pass
it as an override) and re-reads it whenever the file changes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import yaml

from converters.format import PROFILES

RECIPE_PATH = Path(__file__).resolve().parents[1] / "recipes" / "reward" / "sfr.yaml"
KEYS = ("variant", "clip", "profile", "ner", "re", "ee")
VARIANTS = ("sfr", "coarse_only", "fine_only")


class _GainWeights:
    """The coarse and fine gain weights of a task, summed from the fields named by ``COARSE`` and ``FINE``."""

    COARSE: ClassVar[tuple[str, ...]]
    FINE: ClassVar[tuple[str, ...]]

    @cached_property
    def coarse_weight(self) -> float:
        return sum(getattr(self, name) for name in self.COARSE)

    @cached_property
    def fine_weight(self) -> float:
        return sum(getattr(self, name) for name in self.FINE)


@dataclass(frozen=True)
class NERWeights(_GainWeights):
    """Eq. 7. Coarse gain weight ``w_t``, fine gain weight ``w_p``."""

    COARSE: ClassVar[tuple[str, ...]] = ("w_t",)
    FINE: ClassVar[tuple[str, ...]] = ("w_p",)

    w_t: float
    w_p: float
    gamma: float
    lambda_t: float
    lambda_p: float


@dataclass(frozen=True)
class REWeights(_GainWeights):
    """Eq. 8. Coarse gain weight ``w_t``; fine gain weights ``w_h + w_a + w_r`` (H and A are fine sets)."""

    COARSE: ClassVar[tuple[str, ...]] = ("w_t",)
    FINE: ClassVar[tuple[str, ...]] = ("w_h", "w_a", "w_r")

    w_t: float
    w_h: float
    w_a: float
    w_r: float
    gamma: float
    lambda_t: float
    lambda_r: float


@dataclass(frozen=True)
class EEWeights(_GainWeights):
    """Eqs. 9-10. Coarse gain weights ``w_E + w_T``, fine gain weight ``w_F``."""

    COARSE: ClassVar[tuple[str, ...]] = ("w_E", "w_T")
    FINE: ClassVar[tuple[str, ...]] = ("w_F",)

    w_E: float
    w_T: float
    w_F: float
    gamma: float
    lambda_E: float
    lambda_T: float
    lambda_F: float


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


def _check_keys(raw: Mapping[str, Any], expected: Sequence[str], where: str, prefix: str = "") -> None:
    """Every key of ``raw`` is expected and every expected key is there (the first offender is named)."""
    unknown = sorted(set(map(str, raw)) - set(expected))
    if unknown:
        _fail(where, prefix + unknown[0], f"unknown; expected one of {list(expected)}")
    missing = [k for k in expected if k not in raw]
    if missing:
        _fail(where, prefix + missing[0], "missing")


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, key, f"must be a finite number, got {value!r}")
    return float(value)


def _task_weights(task: str, raw: Any, where: str) -> TaskWeights:
    cls = _TASK_TYPES[task]
    names = [f.name for f in fields(cls)]
    if not isinstance(raw, Mapping):
        _fail(where, task, f"must be a mapping of {names}")
    _check_keys(raw, names, where, f"{task}.")
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
    _check_keys(raw, KEYS, where)
    if raw["variant"] not in VARIANTS:
        _fail(where, "variant", f"must be one of {VARIANTS}, got {raw['variant']!r}")
    if not isinstance(raw["clip"], bool):
        _fail(where, "clip", f"must be true or false, got {raw['clip']!r}")
    if raw["profile"] not in PROFILES:
        _fail(where, "profile", f"must be one of {sorted(PROFILES)}, got {raw['profile']!r}")
    return SFRConfig(raw["variant"], raw["clip"], raw["profile"],
                     *(_task_weights(task, raw[task], where) for task in _TASK_TYPES))


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the SFR config: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the SFR config must be a YAML mapping")
    return data


_FILES: dict[tuple[str, int, int], dict[str, Any]] = {}


def _read_yaml_cached(path: str) -> dict[str, Any]:
    """The file's mapping, read again whenever its size or modification time changes (adapters call this for
    every batch; a config edited during a run is never served stale)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the SFR config: {exc}") from exc
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _FILES:
        if len(_FILES) >= 16:
            _FILES.clear()
        _FILES[key] = _read_yaml(path)
    return _FILES[key]


def load_sfr_config(path: str | Path, **overrides: Any) -> SFRConfig:
    """Read an SFR YAML file (e.g. ``RECIPE_PATH``) and apply ``overrides``.

    Overrides use the file's shape: top-level ``variant``/``clip``/``profile``, and per-task mappings that
    are merged key by key, e.g. ``load_sfr_config(RECIPE_PATH, profile="default", ner={"gamma": 2.0})``.
    """
    source = str(path)
    merged = dict(_read_yaml_cached(source))  # the cached mapping itself is never changed: merges build new dicts
    for key, value in overrides.items():
        if key in _TASK_TYPES and isinstance(merged.get(key), dict) and isinstance(value, Mapping):
            merged[key] = {**merged[key], **to_plain(value)}
        else:
            merged[key] = value
    return sfr_config(merged, where=f"{source} + overrides" if overrides else source)
