"""The fast tier's time inside one whole-suite run, so that CI runs every test once and still reports it.

``make test-fast`` is the suite without the tests marked ``slow``, ``ray`` or ``gpu`` (the Makefile's ``FAST_TESTS``);
its budget is 3 minutes of wall time on two pytest-xdist workers (6 minutes of test time). CI used to run that tier
and then the whole suite, the fast tests twice (about a sixth of CI's time on a slow machine). Instead, each test's
setup, call and teardown time is added to the tier its markers put it in, and the sums are printed at the end of the
run. A session or module fixture is counted in the setup of the first test that needs it, so a fixture shared by both
tiers lands in the tier that used it first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SLOW_MARKERS = ("slow", "ray", "gpu")
FAST_TESTS = " and ".join(f"not {marker}" for marker in SLOW_MARKERS)  # the Makefile's -m expression


def tier_of(keywords: Iterable[str]) -> str:
    """``fast`` for a test ``make test-fast`` runs, else ``slow``."""
    return "slow" if set(SLOW_MARKERS).intersection(keywords) else "fast"


@dataclass
class TierClock:
    """Seconds and test counts per tier, fed with pytest's reports."""

    seconds: dict[str, float] = field(default_factory=lambda: {"fast": 0.0, "slow": 0.0})
    tests: dict[str, set[str]] = field(default_factory=lambda: {"fast": set(), "slow": set()})

    def add(self, nodeid: str, keywords: Mapping[str, object], duration: float) -> None:
        """One phase (setup, call or teardown) of one test."""
        tier = tier_of(keywords)
        self.seconds[tier] += duration
        self.tests[tier].add(nodeid)

    def line(self, tier: str, budget_s: float | None = None) -> str:
        """``fast tier: 123 s of test time in 860 tests (budget 180 s)``."""
        budget = f" (budget {budget_s:.0f} s)" if budget_s is not None else ""
        return f"{tier} tier: {self.seconds[tier]:.0f} s of test time in {len(self.tests[tier])} tests{budget}"
