"""SA on RE alone against training data at 135M (issue #22: RE strict F1 >= 20), run and published by one command.

    python benchmarks/re_scaling.py --data-root /path/to/originals   # run (or resume) the study, publish
    python benchmarks/re_scaling.py --publish-only                   # publish the finished study again

Runs ``+experiment=repro_tuned +study=re_scaling data=originals data.root=<root>`` from repro_tuned's CM-all model
(``<runs>/repro_tuned/cm_all/output``: ``benchmarks/repro_tuned.py`` trains it) and publishes ``docs/re_scaling/``
the way ``benchmarks/data_scaling.py`` publishes its study: the study report and ``RUN.md`` with, per variant, its
SemEval training rows, stage times, and strict F1 and valid rate on the bundled SemEval test records.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.data_scaling import RE  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    return RE.main(argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
