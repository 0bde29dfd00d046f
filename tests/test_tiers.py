"""tests.helpers.tiers: the fast tier's time read off a whole-suite run is that of the tests make test-fast runs."""

from __future__ import annotations

import re

from tests.helpers.smoke_runs import REPO
from tests.helpers.tiers import FAST_TESTS, TierClock, tier_of


def test_the_makefiles_fast_tier_is_the_one_the_clock_counts():
    [expression] = re.findall(r"^FAST_TESTS := (.+)$", (REPO / "Makefile").read_text(), flags=re.M)
    assert expression == FAST_TESTS == "not slow and not ray and not gpu"


def test_a_test_with_any_slow_marker_is_slow_else_fast():
    assert tier_of(["test_x", "tests/eval", "parametrize"]) == "fast"
    assert [tier_of(["test_x", m]) for m in ("slow", "ray", "gpu")] == ["slow"] * 3


def test_every_phase_of_a_test_adds_to_its_tier_and_a_test_counts_once():
    clock = TierClock()
    for phase_s in (0.5, 2.0, 0.25):  # setup, call, teardown
        clock.add("tests/a.py::test_fast", {"test_fast": 1}, phase_s)
    clock.add("tests/b.py::test_ray", {"test_ray": 1, "ray": 1}, 40.0)
    clock.add("tests/b.py::test_slow", {"slow": 1}, 9.4)
    assert clock.seconds == {"fast": 2.75, "slow": 49.4}
    assert clock.line("fast", 180) == "fast tier: 3 s of test time in 1 tests (budget 180 s)"
    assert clock.line("slow") == "slow tier: 49 s of test time in 2 tests"
