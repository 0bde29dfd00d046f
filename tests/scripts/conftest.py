"""The GPU check's modules live in scripts/ and import each other by bare name, as `python scripts/gpu_check.py`
runs them: the tests see that folder the same way."""

from __future__ import annotations

import sys

from tests.helpers.smoke_runs import REPO

SCRIPTS = str(REPO / "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)
