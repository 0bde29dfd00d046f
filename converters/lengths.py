"""Output-length statistics in the shape of the paper's Table 6 (generated or target outputs).

For each percentile P (50, 70, 99 by default) the bucket holds the examples whose length is at or below the
P-th percentile (``numpy.percentile``, linear interpolation) and reports that threshold and the bucket's
min / mean / max. Lengths are counted in characters, or in tokens when a tokenizer is given.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from converters.format import render_target

PERCENTILES = (50, 70, 99)


def percentile_buckets(lengths: Sequence[int], percentiles: Sequence[int] = PERCENTILES) -> dict[str, dict]:
    """``{"P50": {"threshold", "n", "min", "mean", "max"}, ...}`` of the examples at or below each percentile."""
    arr = np.asarray(lengths, dtype=float)
    out: dict[str, dict] = {}
    for p in percentiles:
        if arr.size == 0:
            out[f"P{p}"] = {"threshold": 0.0, "n": 0, "min": 0, "mean": 0.0, "max": 0}
            continue
        threshold = float(np.percentile(arr, p))
        bucket = arr[arr <= threshold]
        out[f"P{p}"] = {"threshold": threshold, "n": int(bucket.size), "min": int(bucket.min()),
                        "mean": float(bucket.mean()), "max": int(bucket.max())}
    return out


def output_lengths(outputs: Iterable[str], tokenizer: Any | None = None) -> list[int]:
    """Character counts, or token counts with ``tokenizer`` (a Hugging Face tokenizer; no special tokens)."""
    texts = list(outputs)
    if tokenizer is None:
        return [len(t) for t in texts]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def target_length_table(records: Iterable[Mapping[str, Any]], styles: Sequence[str] = ("cm", "sa"),
                        profile: str = "default", tokenizer: Any | None = None,
                        percentiles: Sequence[int] = PERCENTILES) -> dict[str, dict[str, dict]]:
    """Table 6 rows for the rendered targets of ``records``, one per style."""
    records = list(records)
    return {style: percentile_buckets(output_lengths([render_target(r, style, profile) for r in records], tokenizer),
                                      percentiles)
            for style in styles}


def format_table(rows: Mapping[str, Mapping[str, Mapping[str, float]]], unit: str) -> str:
    """Plain-text table: one line per row name, ``min/mean/max (≤threshold)`` per percentile bucket."""
    names = list(next(iter(rows.values()))) if rows else []
    lines = [f"{'':10} " + " ".join(f"{n + ' (' + unit + ')':>28}" for n in names)]
    for row, buckets in rows.items():
        cells = [f"{b['min']:.0f}/{b['mean']:.1f}/{b['max']:.0f} (<={b['threshold']:.0f})" for b in buckets.values()]
        lines.append(f"{row:10} " + " ".join(f"{c:>28}" for c in cells))
    return "\n".join(lines)
