"""Micro precision / recall / F1 from counts: the arithmetic every scorer shares (``eval.metrics`` and
``eval.instructuie`` both count units per sentence and sum them; neither imports the other for it)."""

from __future__ import annotations


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float | int]:
    """Micro precision/recall/F1 from counts (F1 as 2PR/(P+R), 0 where undefined), with the counts."""
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "score": f1,
            "tp": tp, "fp": n_pred - tp, "fn": n_gold - tp, "n_gold": n_gold, "n_pred": n_pred}


class SetCounter:
    """Accumulates set-based micro counts sentence by sentence."""

    def __init__(self) -> None:
        self.tp = self.n_pred = self.n_gold = 0

    def add(self, gold: set, pred: set) -> None:
        self.tp += len(gold & pred)
        self.n_pred += len(pred)
        self.n_gold += len(gold)

    def result(self) -> dict[str, float | int]:
        return prf(self.tp, self.n_pred, self.n_gold)
