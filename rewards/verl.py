"""verl custom reward: ``reward.custom_reward_function.path=<repo>/rewards/verl.py``, ``name=compute_score``.

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)`` per sample;
``ground_truth`` is the canonical record (JSON text or a dict). The result has ``score`` plus the same numeric
sub-score keys for every sample (verl aggregates them per key). Kwargs as in ``rewards.easyr1``.
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


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  **kwargs: Any) -> dict[str, float]:
    """SFR of one response; ``data_source`` and ``extra_info`` are not needed (the record names its task)."""
    score = score_response(solution_str, gold_from_answer(ground_truth), config_from_kwargs(kwargs)).as_dict()
    score["score"] = score.pop("overall")
    return score
