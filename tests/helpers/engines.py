"""The GRPO engines' own environments for tests: built (or found up to date) by the project's own set-up.

EasyR1 is installed from the snapshot next to the checkout (``../shared/upstream/EasyR1``, as CI has it); a missing
snapshot or a failed build fails the test loudly, never skips it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers.smoke_runs import REPO

EASYR1_SRC = REPO.parent / "shared" / "upstream" / "EasyR1"


def ensure_engine(engine: str) -> Path:
    """``scripts/setup_engine.sh <engine>`` (returns at once when its stamp matches); the env's interpreter."""
    if engine == "easyr1" and not (EASYR1_SRC / "setup.py").is_file():
        raise FileNotFoundError(f"the EasyR1 snapshot is missing: {EASYR1_SRC} (shared/upstream/EasyR1)")
    env = {**os.environ, "EASYR1_SRC": str(EASYR1_SRC)}
    result = subprocess.run(["bash", str(REPO / "scripts" / "setup_engine.sh"), engine], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, f"setting up the {engine} environment failed:\n{result.stderr[-4000:]}"
    return REPO / ".engines" / engine / "bin" / "python"
