"""The set functions of SFR (paper §2.5.2, Eqs. 3-6), on sets and on overlap counts.

Every function of a gold set A_g and a predicted set A_p depends only on three counts: |A_g|, |A_p| and
|A_g ∩ A_p|. ``Overlap`` holds them, so each pair of sets is intersected once and all four quantities read off
it. The paper leaves the empty cases open; our conventions, chosen so that a perfect answer is always perfect:

* ``coverage`` of an empty gold set is 1 when the prediction is empty too (Eq. 3 as printed gives 0); with a
  non-empty prediction it is 0, as printed.
* ``f1`` of two empty sets is 1 (Eq. 4 is 0/0 there).
* ``delta`` (normalised symmetric difference, Eq. 5) needs no convention: 0 for two empty sets.
* ``jaccard_distance`` of two empty sets is 0 (Eq. 6 as printed gives 1).
"""

from __future__ import annotations

from typing import Hashable, Iterable, NamedTuple


class Overlap(NamedTuple):
    """|gold|, |pred| and |gold ∩ pred| of one pair of unit sets."""

    gold: int
    pred: int
    common: int

    @classmethod
    def of(cls, gold: Iterable[Hashable], pred: Iterable[Hashable]) -> Overlap:
        """Count a pair of sets (duplicates count once)."""
        return count(_as_set(gold), _as_set(pred))

    @property
    def coverage(self) -> float:
        """Eq. 3: |A_g ∩ A_p| / max(1, |A_g|); 1 when both sets are empty."""
        if self.gold == 0:
            return 1.0 if self.pred == 0 else 0.0
        return self.common / self.gold

    @property
    def f1(self) -> float:
        """Eq. 4: 2|A_g ∩ A_p| / (|A_g| + |A_p|); 1 when both sets are empty."""
        total = self.gold + self.pred
        return 2.0 * self.common / total if total else 1.0

    @property
    def delta(self) -> float:
        """Eq. 5: |A_g Δ A_p| / max(1, |A_g|)."""
        return (self.gold + self.pred - 2 * self.common) / (self.gold or 1)

    @property
    def jaccard_distance(self) -> float:
        """Eq. 6: 1 - |A_g ∩ A_p| / max(1, |A_g ∪ A_p|); 0 when both sets are empty."""
        union = self.gold + self.pred - self.common
        return 1.0 - self.common / union if union else 0.0


def count(gold: set | frozenset, pred: set | frozenset) -> Overlap:
    """``Overlap`` of two ready-made sets (the hot path of the reward)."""
    return Overlap(len(gold), len(pred), len(gold & pred))


def _as_set(units: Iterable[Hashable]) -> set | frozenset:
    return units if isinstance(units, (set, frozenset)) else set(units)


def coverage(gold: Iterable[Hashable], pred: Iterable[Hashable]) -> float:
    """Eq. 3 (see ``Overlap.coverage`` for the empty-gold convention)."""
    return Overlap.of(gold, pred).coverage


def f1(gold: Iterable[Hashable], pred: Iterable[Hashable]) -> float:
    """Eq. 4, micro-F1 of two unit sets (1 for two empty sets)."""
    return Overlap.of(gold, pred).f1


def delta(gold: Iterable[Hashable], pred: Iterable[Hashable]) -> float:
    """Eq. 5, the symmetric difference normalised by the gold size."""
    return Overlap.of(gold, pred).delta


def jaccard_distance(gold: Iterable[Hashable], pred: Iterable[Hashable]) -> float:
    """Eq. 6 (0 for two empty sets)."""
    return Overlap.of(gold, pred).jaccard_distance
