"""EasyR1 reward file: ``worker.reward.reward_function=<repo>/rewards/easyr1.py:compute_score``.

EasyR1 loads this file by path inside a Ray actor (the repository need not be on ``sys.path``), calls
``compute_score(reward_inputs, **worker.reward.reward_function_kwargs)`` with a batch of
``{"response", "response_length", "ground_truth"}`` dicts, and logs every returned key as ``reward/<key>``.
``ground_truth`` is the GRPO ``answer`` column: the canonical record as JSON text.

Kwargs (JSON in ``worker.reward.reward_function_kwargs``, required): the whole SFR config as the pipeline writes
it for each DE stage (``variant``, ``clip``, ``profile``, ``ner``, ``re``, ``ee``), or ``config`` (the path of
an SFR YAML such as ``recipes/reward/sfr.yaml``) with ``profile`` and any overrides, e.g.
``{"config": "/repo/recipes/reward/sfr.yaml", "profile": "default", "variant": "fine_only"}``.
Each returned dict holds ``overall`` (the reward) and the sub-scores of ``rewards.sfr.SFRScore``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_REPO = str(Path(__file__).resolve().parents[1])
if _REPO not in sys.path:  # loaded by file path from a Ray actor
    sys.path.insert(0, _REPO)

from rewards.inputs import config_from_kwargs, gold_from_answer  # noqa: E402
from rewards.sfr import score_response  # noqa: E402

REWARD_NAME = "prouie_sfr"
REWARD_TYPE = "batch"


def compute_score(reward_inputs: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, float]]:
    """SFR for a batch of EasyR1 reward inputs, in order; raises only on a malformed ground truth or kwargs."""
    config = config_from_kwargs(kwargs)
    return [score_response(item["response"], gold_from_answer(item["ground_truth"]), config).as_dict()
            for item in reward_inputs]
