"""The GRPO engines' own environments for tests: built (or found up to date) by the project's own set-up.

verl comes from PyPI. EasyR1 is not on PyPI: it is installed from the source that ``PROUIE_TEST_INPUTS`` provides
(``upstream/EasyR1``, see tests/helpers/inputs.py), so a test that needs the EasyR1 environment is skipped where that
source is absent (a failure in CI). A failed build fails the test loudly, never skips it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers.inputs import upstream_input
from tests.helpers.smoke_runs import REPO


def ensure_engine(engine: str) -> Path:
    """``scripts/setup_engine.sh <engine>`` (returns at once when its stamp matches); the env's interpreter."""
    env = dict(os.environ)
    if engine == "easyr1":
        env["EASYR1_SRC"] = str(upstream_input("easyr1"))
    result = subprocess.run(["bash", str(REPO / "scripts" / "setup_engine.sh"), engine], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, f"setting up the {engine} environment failed:\n{result.stderr[-4000:]}"
    return REPO / ".engines" / engine / "bin" / "python"


class EngineEnvs:
    """``envs[engine]`` is that engine's interpreter, built on first use: a test asks only for the engines it
    runs, so the verl half of a test still runs where the EasyR1 source is missing."""

    def __init__(self) -> None:
        self._built: dict[str, Path] = {}

    def __getitem__(self, engine: str) -> Path:
        if engine not in self._built:
            self._built[engine] = ensure_engine(engine)
        return self._built[engine]
