"""Shared test set-up: offline Hugging Face libraries and the embedded tiny model.

Fixtures for everyone:
    tiny_model_dir  (session)  Path of the cached tiny Qwen3 model + tokenizer (launch.tiny_model), usable as
                               ``model_name_or_path``.  Built once per cache key, in a few seconds.
"""

from __future__ import annotations

import os

# Set before any test imports transformers / datasets / tokenizers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The cached tiny Qwen3 model folder (see launch/tiny_model.py); PROUIE_CACHE relocates the cache."""
    from launch.tiny_model import ensure_tiny_model

    return ensure_tiny_model()
