"""Trigger-group alignment for SFR-EE (paper §2.5.2): gold groups to predicted groups of one event type.

Each gold trigger group is matched to at most one predicted group, one-to-one, by the assignment that
maximises the total number of shared (role, argument) pairs (``scipy.optimize.linear_sum_assignment``).
Triggers do not enter the matching: trigger correctness is scored by the coarse T set.

Tie-breaking (the paper is silent): only pairs with a positive overlap count as matched, and among all optimal
assignments we take the one whose predicted indices, read in gold order (unmatched last), are
lexicographically smallest; groups are indexed in order of appearance (annotation order for gold, output
order for predictions). The aligned counts (and hence the reward) depend only on the optimal total, so the
tie rule changes which groups are reported as matched, never the score.
"""

from __future__ import annotations

from typing import Sequence

Group = frozenset  # a trigger group's (role, argument) pairs


def overlap_matrix(gold: Sequence[Group], pred: Sequence[Group]) -> list[list[int]]:
    """|gold_i ∩ pred_j| for every pair of groups."""
    return [[len(g & p) for p in pred] for g in gold]


def best_total(weights: Sequence[Sequence[int]]) -> int:
    """The largest total overlap of a one-to-one assignment (fast paths for one row or one column)."""
    if not weights or not weights[0]:
        return 0
    if len(weights) == 1:
        return max(weights[0])
    if len(weights[0]) == 1:
        return max(row[0] for row in weights)
    from scipy.optimize import linear_sum_assignment  # only for several groups of one type on both sides

    rows, cols = linear_sum_assignment(weights, maximize=True)
    return int(sum(weights[i][j] for i, j in zip(rows, cols)))


def match_trigger_groups(gold: Sequence[Group], pred: Sequence[Group]) -> tuple[tuple[int, int], ...]:
    """The optimal (gold index, pred index) matching with the tie rule of the module docstring."""
    weights = overlap_matrix(gold, pred)
    target = best_total(weights)
    used: set[int] = set()
    chosen: list[tuple[int, int]] = []
    got = 0
    for i, row in enumerate(weights):
        for j in [j for j, w in enumerate(row) if w > 0 and j not in used]:
            rest = [[w for c, w in enumerate(r) if c not in used and c != j] for r in weights[i + 1:]]
            if got + row[j] + best_total(rest) == target:
                chosen.append((i, j))
                used.add(j)
                got += row[j]
                break
    return tuple(chosen)
