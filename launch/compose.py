"""Compose a recipe outside the command line (tests, notebooks): the same config run_pipeline.py gets.

The settings the launcher reads have typed schemas (``launch.stage.RecipeSettings``: ``pipeline``, ``cluster``,
``sft``, ``grpo``, ``model``, ``estimate`` and the run-wide scalars), and so have the stage entries
(``launch.plan.SFTStageSpec`` / ``GRPOStageSpec``): a key a schema does not have, or a value of the wrong type, is
an error naming the key's path when the recipe is composed, also where an experiment file (which Hydra merges
without struct checks) sets it. The engines' own dicts (``sft.args``, ``grpo.args`` / ``config`` / ``data``, a
stage's ``args``) take any key: the engines check them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from launch.engines.environment import REPO_ROOT
from launch.plan import check_stages
from launch.stage import recipe_settings

RECIPES = REPO_ROOT / "recipes"


def cpu_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the planning machine's CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16). CPU recipes ask
    ``${cpu_bf16:}`` rather than ``true``: there bf16 autocast makes SFT steps about 1.6x faster, elsewhere it is
    emulated and slower than fp32. Unknown (no ``/proc/cpuinfo``, e.g. macOS) counts as no."""
    try:
        flags = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


OmegaConf.register_new_resolver("cpu_bf16", cpu_bf16, replace=True)

CPU_BF16 = "${cpu_bf16:}"


def precision_note(cfg: DictConfig) -> str | None:
    """The line a run prints where its recipe asks SFT for ``${cpu_bf16:}`` and this CPU has no bf16 hardware: SFT
    then trains in fp32, slower, and trains another model than a published run made on a CPU with it
    (docs/mini_fp32/ measures both); None otherwise."""
    args = OmegaConf.to_container(cfg, resolve=False).get("sft", {}).get("args", {})
    if args.get("bf16") != CPU_BF16 or cpu_bf16():
        return None
    return ("this CPU has no AVX512-BF16 or AMX-BF16: SFT trains in fp32 (sft.args.bf16 = ${cpu_bf16:} is false "
            "here), slower than in bf16 and into other models than a CPU with bf16 trains: mini took 2,020 s on "
            "such a CPU against 1,191 s on one with bf16, with other scores (docs/mini_fp32/NOTES.md)")


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The composed recipe as a plain dict; values left at ??? are a config error naming them, and so is a
    setting or a stage entry outside its schema."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}; choose an experiment (+experiment=smoke or "
                         f"+experiment=prouie_4b) or set them on the command line")
    plain = OmegaConf.to_container(cfg, resolve=True)
    recipe_settings(plain)
    check_stages(plain)
    return plain


def compose_recipe(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``recipes/config.yaml`` composed with command-line style overrides, e.g. ``["+experiment=smoke"]``.

    Inside ``launch/run_pipeline.py`` (a study composes each variant) Hydra is already initialised on this tree."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return resolved_config(compose(config_name="config", overrides=list(overrides)))
    with initialize_config_dir(config_dir=str(RECIPES), version_base=None):
        return resolved_config(compose(config_name="config", overrides=list(overrides)))
