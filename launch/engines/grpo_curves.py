"""A GRPO stage's per-step curves: is the DE stage learning, and are its groups teaching anything?

From the Trainer's ``log_history`` (TRL's GRPOTrainer logs one entry per optimizer step with ``logging_steps: 1``)
this module makes one row per step, the reward trend (first 20 % of steps against the last 20 %), and writes
``curves.json`` and ``curves.png`` into the stage folder. Pure functions except :func:`write`.

What the TRL keys mean (trl 0.24 ``GRPOTrainer``): ``reward`` is the mean over the step's completions of the
weighted reward; ``reward_std`` the mean over the step's groups of the reward's standard deviation within a group
(one prompt's ``num_generations`` completions); ``frac_reward_zero_std`` the fraction of groups whose completions
all got the same reward (their advantages are zero: they teach nothing); ``kl`` is logged only with ``beta > 0``
(TRL then loads a reference model), ``entropy`` always.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import fmean, variance
from typing import Any

# curve field -> the TRL log key it is read from
FIELDS = {
    "step": "step",
    "reward_mean": "reward",
    "reward_std": "reward_std",
    "frac_reward_zero_std": "frac_reward_zero_std",
    "kl": "kl",
    "entropy": "entropy",
    "completion_mean_length": "completions/mean_length",
    "completion_clipped_ratio": "completions/clipped_ratio",
    "loss": "loss",
    "learning_rate": "learning_rate",
}
WINDOW = 0.2  # the share of steps at each end that the reward trend compares (issue #22's target)
JSON_NAME, PLOT_NAME = "curves.json", "curves.png"


def curve_rows(log_history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per logged training step (entries with a ``reward``; the closing summary entry has none).

    A key the step did not log (``kl`` with ``beta: 0``) is None."""
    return [{field: entry.get(key) for field, key in FIELDS.items()} for entry in log_history if "reward" in entry]


def welch_interval(first: Sequence[float], last: Sequence[float], level: float = 0.95) -> list[float] | None:
    """Interval for ``mean(last) - mean(first)``: Welch's t over the steps of each window.

    Each step's mean reward counts as one observation, so the spread between steps (other prompts, sampling)
    sets the width. None when a window has fewer than two steps or neither window varies (no spread to measure:
    a zero-width interval would claim a certainty two equal steps cannot give)."""
    from scipy.stats import t

    if min(len(first), len(last)) < 2:
        return None
    gain = fmean(last) - fmean(first)
    v_first, v_last = variance(first) / len(first), variance(last) / len(last)
    se = math.sqrt(v_first + v_last)
    if se == 0:
        return None
    df = se**4 / (v_first**2 / (len(first) - 1) + v_last**2 / (len(last) - 1))
    half = float(t.ppf(0.5 + level / 2, df)) * se
    return [gain - half, gain + half]


def reward_trend(rows: Sequence[Mapping[str, Any]], window: float = WINDOW) -> dict[str, Any] | None:
    """Mean reward of the first and the last ``window`` share of steps (at least one step each), their
    difference and its 95 % Welch interval; None with fewer than two steps."""
    rewards = [float(row["reward_mean"]) for row in rows]
    if len(rewards) < 2:
        return None
    k = math.ceil(window * len(rewards))
    first, last = rewards[:k], rewards[-k:]
    return {"steps": len(rewards), "window_steps": k, "first_mean": fmean(first), "last_mean": fmean(last),
            "gain": fmean(last) - fmean(first), "gain_ci95": welch_interval(first, last),
            "interval": "Welch t over per-step mean rewards"}


def paths(stage_dir: Path) -> dict[str, str]:
    """Where :func:`write` puts a stage's curves (recorded in the stage's results, for reports to link)."""
    return {"json": str(stage_dir / JSON_NAME), "plot": str(stage_dir / PLOT_NAME)}


def write(stage: str, rows: Sequence[Mapping[str, Any]], stage_dir: Path,
          prompt_trend: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``curves.json`` (the rows, the reward trend and the per-prompt trend of ``launch.engines.grpo_records``,
    None with one epoch) and ``curves.png`` in ``stage_dir``."""
    from launch.run_dir import atomic_write_json

    out, trend = paths(stage_dir), reward_trend(rows)
    atomic_write_json(Path(out["json"]), {"stage": stage, "steps": list(rows), "reward_trend": trend,
                                          "prompt_trend": prompt_trend})
    plot(stage, rows, trend, Path(out["plot"]), prompt_trend)
    return out


def trend_text(trend: Mapping[str, Any] | None) -> str:
    """The reward trend as a plot title suffix."""
    if trend is None:
        return ""
    k, interval = trend["window_steps"], trend["gain_ci95"]
    ci = f", 95% CI [{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else ""
    return f": last {k} - first {k} steps {trend['gain']:+.3f}{ci}"


def prompt_trend_text(trend: Mapping[str, Any] | None) -> str:
    """The per-prompt trend as a plot caption (empty with one epoch)."""
    if trend is None:
        return ""
    interval = trend["gain_ci95"]
    ci = f", 95% CI [{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else ""
    visits = ", ".join(f"{m:+.3f}" for m in trend["visit_means"])
    return (f"same {trend['prompts']} prompts, last visit - first: {trend['gain']:+.3f}{ci}; "
            f"mean reward per visit: {visits}")


def plot(stage: str, rows: Sequence[Mapping[str, Any]], trend: Mapping[str, Any] | None, path: Path,
         prompt_trend: Mapping[str, Any] | None = None) -> None:
    """Four panels per step: reward mean ± within-group std (with the trend), zero-std groups, completion length,
    entropy and KL (its own axis: it is orders of magnitude smaller); the per-prompt trend as the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in rows]

    def series(field: str) -> list[float]:
        return [math.nan if row[field] is None else float(row[field]) for row in rows]

    mean, std = series("reward_mean"), series("reward_std")
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    ax = axes[0, 0]
    ax.plot(steps, mean, marker="o", label="mean")
    ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.25,
                    label="± within-group std")
    ax.set_title(f"reward{trend_text(trend)}", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(steps, series("frac_reward_zero_std"), marker="o", color="tab:red")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("groups with zero reward std (no signal)")
    ax = axes[1, 0]
    ax.plot(steps, series("completion_mean_length"), marker="o", color="tab:green")
    ax.set_title("completion mean length (tokens)")
    ax = axes[1, 1]
    ax.plot(steps, series("entropy"), marker="o", color="tab:purple")
    ax.set_ylabel("entropy", color="tab:purple")
    if any(row["kl"] is not None for row in rows):
        kl_ax = ax.twinx()
        kl_ax.plot(steps, series("kl"), marker="s", color="tab:orange")
        kl_ax.set_ylabel("KL to reference", color="tab:orange")
    ax.set_title("entropy, KL (logged only with beta > 0)")
    for ax in axes[1]:
        ax.set_xlabel("optimizer step")
    fig.suptitle(f"{stage}: GRPO per step")
    caption = prompt_trend_text(prompt_trend)
    if caption:
        fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.04 if caption else 0, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)

