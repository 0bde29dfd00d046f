"""verl (>= 0.9) custom reward: ``reward.custom_reward_function.path=<repo>/rewards/verl.py`` (or
``pkg://rewards.verl`` when installed) and ``reward.custom_reward_function.name=compute_score``.

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)`` per sample,
from a thread pool (everything here is thread-safe); ``ground_truth`` is the canonical record (JSON text or a
dict). The result has ``score`` plus the same numeric sub-score keys for every sample (verl aggregates them per
key). Reward kwargs (``+reward.custom_reward_function.reward_kwargs``, required) as in ``rewards.easyr1``; the
reward-model handles verl adds when a reward model is enabled are ignored.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_REPO = str(Path(__file__).resolve().parents[1])
if _REPO not in sys.path:  # loaded by file path from a Ray worker
    sys.path.insert(0, _REPO)

from rewards.inputs import config_from_kwargs, gold_from_answer  # noqa: E402
from rewards.sfr import score_response  # noqa: E402

VERL_KWARGS = ("reward_router_address", "reward_model_tokenizer")  # added by verl's reward loop, not ours


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  **kwargs: Any) -> dict[str, float]:
    """SFR of one response; ``data_source`` and ``extra_info`` are not needed (the record names its task)."""
    config = config_from_kwargs({k: v for k, v in kwargs.items() if k not in VERL_KWARGS})
    score = score_response(solution_str, gold_from_answer(ground_truth), config).as_dict()
    score["score"] = score.pop("overall")
    return score
