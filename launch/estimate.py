"""Dry-run GPU-hour estimates: a deliberately simple model whose assumptions live in the recipe (``estimate``).

GPU-hours = tokens processed / (tokens per second per GPU) / 3600, for the cluster's ``gpu_type``:
SFT processes examples x epochs x ``sft_tokens_per_example`` tokens at the ``sft`` rate; GRPO generates
prompts x epochs x rollout_n x (prompt + response tokens) at the ``gen`` rate and trains on the same tokens at the
``rl`` rate. Wall-clock hours are GPU-hours / GPUs (perfect scaling assumed).
"""

from __future__ import annotations

from collections.abc import Mapping

from launch.stage import RecipeSettings, StagePlan


def throughput(settings: RecipeSettings) -> tuple[str, Mapping[str, float]]:
    """The GPU type used for the estimate and its assumed rates (``default`` when the type is not listed)."""
    table = settings.estimate.throughput
    gpu_type = settings.cluster.gpu_type or "default"
    return (gpu_type, table[gpu_type]) if gpu_type in table else ("default", table["default"])


def gpu_hours(stage: StagePlan) -> float | None:
    """Estimated GPU-hours of one stage (the recipe's cluster and ``estimate``); None for stages the model does not
    cover (eval)."""
    est = stage.settings.estimate
    _, rate = throughput(stage.settings)
    if stage.kind == "sft":
        tokens = stage.samples * float(stage.epochs) * est.sft_tokens_per_example
        return tokens / rate["sft"] / 3600
    if stage.kind == "grpo":
        tokens = (stage.samples * float(stage.epochs) * int(stage.rollout_n)
                  * (est.grpo_prompt_tokens + est.grpo_response_tokens))
        return tokens / rate["gen"] / 3600 + tokens / rate["rl"] / 3600
    return None
