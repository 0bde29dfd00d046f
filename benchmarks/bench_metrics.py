"""Speed of the strict NER scorer: 100,000 predictions, and against seqeval on the NCBI-disease test slice.

    python benchmarks/bench_metrics.py [--n 100000] [--repeat 5]

Measured in one run, CPU time of this process (``time.process_time``, so other load matters less):
- ``score("ner", ...)`` on n raw output strings (the bundled NCBI-disease test records, cycled, with perturbed
  predictions: every 4th entity dropped, a one-token entity added to every 3rd sentence); target < 10 s.
- the same NCBI predictions: ours from raw strings (parse + score) and from already parsed outputs (score only)
  against ``seqeval.metrics.f1_score(mode="strict", scheme=IOB2)`` on the equivalent BIO tags, with the F1
  equality checked (on the sentences without repeated (type, mention) pairs, where the two must agree).
  Target: ours at least 10x faster.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seqeval.metrics import f1_score  # noqa: E402
from seqeval.scheme import IOB2  # noqa: E402

from converters.bundled import bundled_spec  # noqa: E402
from converters.format import render_units  # noqa: E402
from converters.readers import read_source  # noqa: E402
from converters.records import Units, schema_of  # noqa: E402
from eval.metrics import parse_predictions, score  # noqa: E402


def _perturbed(records: list[dict]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Raw outputs and gold/predicted BIO tags built from the same predicted token spans."""
    outputs, y_true, y_pred = [], [], []
    for i, record in enumerate(records):
        tokens = record["text"].split(" ")
        gold = [(e["type"], *e["tokens"]) for e in record["entities"]]
        pred = [span for j, span in enumerate(gold) if j % 4 != 1]
        used = {k for _, s, e in gold for k in range(s, e)}
        if i % 3 == 0 and 0 not in used and all(tokens[0] != " ".join(tokens[s:e]) for _, s, e in gold):
            pred.append((record["labels"][0], 0, 1))
        for spans, sink in ((gold, y_true), (pred, y_pred)):
            tags = ["O"] * len(tokens)
            for t, s, e in spans:
                tags[s:e] = [f"B-{t}"] + [f"I-{t}"] * (e - s - 1)
            sink.append(tags)
        outputs.append(render_units(Units("ner", entities=tuple((t, " ".join(tokens[s:e])) for t, s, e in pred)),
                                    schema_of(record)))
    return outputs, y_true, y_pred


def _timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    records = list(read_source({**bundled_spec("ncbi", "test"), "offsets": True}))
    outputs, y_true, y_pred = _perturbed(records)

    gold_n = [records[i % len(records)] for i in range(args.n)]
    out_n = [outputs[i % len(outputs)] for i in range(args.n)]
    t_big, _ = _timed(lambda: score("ner", gold_n, out_n), 1)
    print(f"score {args.n:,} NER predictions (raw strings): {t_big:.2f} s  (target < 10 s)  "
          f"{'OK' if t_big < 10 else 'MISSED'}")

    clean = [i for i, r in enumerate(records)
             if len({(e["type"], e["text"]) for e in r["entities"]}) == len(r["entities"])]
    g, o = [records[i] for i in clean], [outputs[i] for i in clean]
    yt, yp = [y_true[i] for i in clean], [y_pred[i] for i in clean]
    t_seq, f_seq = _timed(lambda: f1_score(yt, yp, mode="strict", scheme=IOB2), args.repeat)
    t_raw, ours = _timed(lambda: score("ner", g, o), args.repeat)
    parsed = parse_predictions(g, o)
    t_parsed, ours_parsed = _timed(lambda: score("ner", g, parsed), args.repeat)
    assert ours["f1"] == f_seq == ours_parsed["f1"], (ours["f1"], f_seq)
    print(f"NCBI-disease test slice, {len(clean)} sentences without repeated mentions, F1 {f_seq:.6f} "
          f"(ours == seqeval: {ours['f1'] == f_seq})")
    print(f"  seqeval strict IOB2        : {1000 * t_seq:8.2f} ms")
    print(f"  ours, raw strings (parse+score): {1000 * t_raw:8.2f} ms   speed-up {t_seq / t_raw:5.1f}x (target >= 10x)")
    print(f"  ours, parsed outputs (score) : {1000 * t_parsed:8.2f} ms   speed-up {t_seq / t_parsed:5.1f}x")


if __name__ == "__main__":
    main()
