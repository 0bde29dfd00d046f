"""An evaluation in bfloat16 against the same evaluation in the checkpoint's dtype: speed ratio and paired scores.

A pipeline's eval stage config (``<run>/<eval stage>/config.yaml``, e.g. ``runs/mini/eval_sa/config.yaml``) is run
whole by ``eval.run_benchmark`` twice per round, once with ``bf16=false`` and once with ``bf16=true``, the order
alternating from round to round (this machine's speed drifts); each round writes its own predictions. The ratio is
of the summed wall times. The scores of the two are paired on the same test records
(``eval.progression.from_reports``: each score's 95 % interval, bf16 minus fp32 with its paired interval), so the
table says whether decoding in bf16 changes what the evaluation measures.

    python benchmarks/bench_eval_bf16.py runs/mini/eval_sa/config.yaml [--rounds 1] [--out DIR]

Writes ``DIR/progression.md`` (and ``.json``, ``.png``) and ``DIR/timing.json``; default DIR is
``runs/bench_eval_bf16/<stage>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval import progression  # noqa: E402
from eval.run_benchmark import run_benchmark  # noqa: E402

MODES = {"fp32": False, "bf16": True}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", type=Path, help="a rendered eval stage config (<run>/<stage>/config.yaml)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    base = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    out = args.out or Path("runs/bench_eval_bf16") / args.config.parent.name
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    reports: dict[str, Path] = {}
    for rnd in range(args.rounds):
        order = list(MODES) if rnd % 2 == 0 else list(MODES)[::-1]
        for mode in order:
            cfg = dict(base, bf16=MODES[mode], out_dir=str(out / f"{mode}-{rnd}"))
            start = time.perf_counter()
            run_benchmark(cfg)
            seconds[mode].append(time.perf_counter() - start)
            reports.setdefault(mode, out / f"{mode}-{rnd}" / "report.json")
    data = progression.from_reports([f"{mode}={path}" for mode, path in reports.items()])
    progression.write(data, out)
    timing = {"config": str(args.config), "model": base["model"], "rounds": args.rounds, "seconds": seconds,
              "bf16_speedup": sum(seconds["fp32"]) / sum(seconds["bf16"])}
    (out / "timing.json").write_text(json.dumps(timing, indent=2) + "\n", encoding="utf-8")
    print((out / "progression.md").read_text(encoding="utf-8"))
    print(f"wall seconds: fp32 {sum(seconds['fp32']):.0f}, bf16 {sum(seconds['bf16']):.0f}; "
          f"bf16 is {timing['bf16_speedup']:.2f}x as fast")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
