"""TRL adapter: SFR as a ``GRPOTrainer`` reward function (TRL 0.24).

``GRPOTrainer`` calls each reward function as ``f(prompts=..., completions=..., completion_ids=...,
trainer_state=..., **dataset_columns)`` and logs it under its ``__name__``. The gold is the dataset's ``answer``
column (the canonical record as JSON text). Completions are strings for plain-text prompts and
``[{"role": "assistant", "content": ...}]`` lists for conversational ones; both are read.

TRL sums the reward functions' outputs with ``reward_weights``; ``sfr_reward_funcs`` adds the sub-scores as
extra functions meant for weight 0, so they are logged (``rewards/<name>/mean``) without changing the reward::

    funcs = sfr_reward_funcs(variant="fine_only")
    GRPOTrainer(..., reward_funcs=funcs, args=GRPOConfig(reward_weights=sfr_reward_weights(funcs), ...))
"""

from __future__ import annotations

from typing import Any, Sequence

from rewards.inputs import config_from_kwargs, gold_from_answer
from rewards.sfr import SCORE_KEYS, SFRScore, score_response


def completion_text(completion: Any) -> Any:
    """The text of a TRL completion (a string, or the content of the last message of a conversation)."""
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return completion[-1].get("content", "")
    return completion


class _BatchScorer:
    """Scores a batch once for all reward functions that share it (TRL passes them the same list objects)."""

    def __init__(self, reward_kwargs: dict[str, Any]) -> None:
        self.config = config_from_kwargs(reward_kwargs)
        self._last: tuple[Any, Any, list[SFRScore]] | None = None

    def scores(self, completions: Sequence[Any], answer: Sequence[Any]) -> list[SFRScore]:
        last = self._last
        if last is not None and last[0] is completions and last[1] is answer:
            return last[2]
        scores = [score_response(completion_text(c), gold_from_answer(a), self.config)
                  for c, a in zip(completions, answer, strict=True)]
        self._last = (completions, answer, scores)
        return scores


class SFRReward:
    """One SFR value (``key`` of ``SFRScore``, default the reward) per completion, as TRL expects."""

    def __init__(self, key: str = "overall", scorer: _BatchScorer | None = None, **reward_kwargs: Any) -> None:
        if key not in SCORE_KEYS:
            raise ValueError(f"unknown SFR sub-score {key!r}; expected one of {SCORE_KEYS}")
        if scorer is not None and reward_kwargs:
            raise ValueError("give either a shared scorer or reward kwargs, not both")
        self.key = key
        self.scorer = scorer or _BatchScorer(reward_kwargs)
        self.__name__ = "sfr" if key == "overall" else f"sfr_{key}"

    def __call__(self, completions: Sequence[Any], answer: Sequence[Any], **_: Any) -> list[float]:
        """Scores in completion order; ``answer`` is the dataset column, repeated per generation by TRL."""
        return [getattr(s, self.key) for s in self.scorer.scores(completions, answer)]


def sfr_reward_funcs(sub_scores: bool = True, **reward_kwargs: Any) -> list[SFRReward]:
    """The SFR reward function, followed (when ``sub_scores``) by one function per sub-score for logging."""
    scorer = _BatchScorer(reward_kwargs)
    return [SFRReward(key, scorer) for key in (SCORE_KEYS if sub_scores else SCORE_KEYS[:1])]


def sfr_reward_weights(funcs: Sequence[SFRReward]) -> list[float]:
    """``GRPOConfig.reward_weights`` for ``funcs``: 1 for the reward, 0 for logged sub-scores."""
    return [1.0 if f.key == "overall" else 0.0 for f in funcs]
