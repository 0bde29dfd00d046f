"""Eqs. 3-6 on small hand-worked sets, the empty-set conventions, and the EE trigger-group alignment."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.matching import best_total, match_trigger_groups, overlap_matrix
from rewards.sets import Overlap, coverage, delta, f1, jaccard_distance

G = {"a", "b", "c", "d"}
P = {"b", "c", "x"}  # 2 shared, 2 gold-only, 1 spurious


def test_coverage_eq3():
    assert coverage(G, P) == pytest.approx(2 / 4)
    assert coverage({"a"}, {"a", "b", "c"}) == 1.0  # coverage ignores over-generation


def test_f1_eq4():
    assert f1(G, P) == pytest.approx(2 * 2 / (4 + 3))
    assert f1({"a"}, set()) == 0.0


def test_delta_eq5():
    assert delta(G, P) == pytest.approx(3 / 4)  # {a, d, x}
    assert delta(set(), {"x", "y"}) == 2.0  # normalised by max(1, |A_g|)


def test_jaccard_distance_eq6():
    assert jaccard_distance(G, P) == pytest.approx(1 - 2 / 5)
    assert jaccard_distance({"a"}, {"b"}) == 1.0


def test_empty_set_conventions():
    assert coverage(set(), set()) == 1.0
    assert coverage(set(), {"x"}) == 0.0
    assert f1(set(), set()) == 1.0
    assert delta(set(), set()) == 0.0
    assert jaccard_distance(set(), set()) == 0.0


def test_duplicates_count_once_and_lists_are_accepted():
    assert Overlap.of(["a", "a", "b"], ("b", "b")) == Overlap(2, 1, 1)


# ----------------------------------------------------------------------------------------- EE alignment


def _groups(*pair_sets: str) -> list[frozenset]:
    return [frozenset(s) for s in pair_sets]


def test_optimal_assignment_beats_greedy():
    # overlaps [[2, 1], [2, 0]]: greedy in gold order gets 2, the optimum 3 (g0->p1, g1->p0)
    gold, pred = _groups("xyz", "xy"), _groups("xy", "z")
    assert overlap_matrix(gold, pred) == [[2, 1], [2, 0]]
    assert best_total(overlap_matrix(gold, pred)) == 3
    assert match_trigger_groups(gold, pred) == ((0, 1), (1, 0))


def test_tie_takes_lexicographically_smallest_prediction_indices():
    assert match_trigger_groups(_groups("a", "a"), _groups("a", "a")) == ((0, 0), (1, 1))
    assert match_trigger_groups(_groups("ab", "c"), _groups("a", "b")) == ((0, 0),)
    assert match_trigger_groups(_groups("a"), _groups("b", "a", "a")) == ((0, 1),)
    assert match_trigger_groups(_groups("b", "a", "a"), _groups("a")) == ((1, 0),)


def test_zero_overlap_pairs_are_not_matched():
    assert match_trigger_groups(_groups("a", "b"), _groups("c")) == ()
    assert match_trigger_groups([], _groups("a")) == () and best_total([]) == 0


def _brute_force(weights: list[list[int]]) -> tuple[int, tuple[tuple[int, int], ...]]:
    """Every injective partial assignment; the best total, then the lexicographically smallest choice."""
    m, n = len(weights), len(weights[0]) if weights else 0
    options = []
    for choice in itertools.product([*range(n), None], repeat=m):
        used = [j for j in choice if j is not None]
        if len(used) != len(set(used)):
            continue
        pairs = tuple((i, j) for i, j in enumerate(choice) if j is not None and weights[i][j] > 0)
        key = tuple(j if j is not None and weights[i][j] > 0 else n for i, j in enumerate(choice))
        options.append((-sum(weights[i][j] for i, j in pairs), key, pairs))
    best = min(options)
    return -best[0], best[2]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.frozensets(st.sampled_from("abcdef"), max_size=4), min_size=1, max_size=4),
       st.lists(st.frozensets(st.sampled_from("abcdef"), max_size=4), min_size=1, max_size=4))
def test_alignment_matches_brute_force(gold, pred):
    weights = overlap_matrix(gold, pred)
    total, pairs = _brute_force(weights)
    assert best_total(weights) == total
    assert match_trigger_groups(gold, pred) == pairs
    assert match_trigger_groups(gold, pred) == match_trigger_groups(list(gold), list(pred))  # deterministic
