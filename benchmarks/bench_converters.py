"""Build throughput and memory of the converters on a synthetic NER corpus (canonical JSONL).

    python benchmarks/bench_converters.py [--n 1000000] [--rounds 5]

Measured in one run (CPU time of the measuring process, so other load on the machine matters less), each in a
fresh process so peak RSS is per corpus size. Baseline and build alternate for ``--rounds`` rounds and the
ratio is the median of the per-round ratios: this shared machine's speed drifts by tens of percent within
minutes, and the two runs of one round see the same drift.
- baseline: ``json.loads`` of every line (the floor any reader pays);
- build: ``build_sft_stage`` drawing every record of the corpus as one CM NER stage (canonical reader with
  ``validate_record``, prompt and target rendering, the seeded draw, the alpaca rows, hashes and manifest);
- peak RSS of the build at n/10 and n records (flat = streaming).
Targets: >= 20,000 records/s on one core, build time <= 5x the baseline, RSS(n) / RSS(n/10) close to 1.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TYPES = ["person", "location", "organization", "miscellaneous", "date"]
WORDS = ["alpha", "beta", "gamma", "delta", "Paris", "Acme", "Corp", "river", "north", "June", "the", "of", "and"]


def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 30))]
            text = " ".join(words)
            ents = []
            for _ in range(rng.randint(0, 3)):
                a = rng.randrange(len(words))
                ents.append({"type": rng.choice(TYPES), "text": " ".join(words[a:a + rng.randint(1, 3)])})
            rec = {"id": f"syn/{i}", "dataset": "syn", "task": "ner", "text": text, "labels": TYPES, "entities": ents}
            fh.write(json.dumps(rec) + "\n")


def child(mode: str, path: Path, out: Path) -> None:
    """One measurement; prints a JSON line with seconds, records and peak RSS (MiB)."""
    start, cpu = time.perf_counter(), time.process_time()
    n = 0
    if mode == "loads":
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                json.loads(line)
                n += 1
    else:
        from converters.stages import build_sft_stage

        n = sum(1 for _ in open(path, encoding="utf-8"))
        start, cpu = time.perf_counter(), time.process_time()  # the line count above is not part of the build
        manifest = build_sft_stage("bench", {"ner": n}, {"ner": [{"format": "canonical", "path": str(path)}]},
                                   out, seed=0)
        assert manifest["rows"] == n
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "records": n, "seconds": seconds, "cpu_seconds": cpu_seconds, "rss_mib": rss}))


def measure(mode: str, path: Path, out: Path) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(out)],
                         check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "PATH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        small, big, out = Path(tmp) / "small.jsonl", Path(tmp) / "big.jsonl", Path(tmp) / "out"
        write_corpus(small, max(args.n // 10, 1))
        write_corpus(big, args.n)
        build_small = measure("build", small, out)
        rounds = [(measure("loads", big, out), measure("build", big, out)) for _ in range(args.rounds)]
    base, build = sorted(rounds, key=lambda r: r[1]["cpu_seconds"] / r[0]["cpu_seconds"])[len(rounds) // 2]
    paired = sorted(m["cpu_seconds"] / b["cpu_seconds"] for b, m in rounds)
    rate = build["records"] / build["cpu_seconds"]
    print(f"records                     {build['records']:>12,}   (times are CPU seconds of one process; wall in [])")
    print(f"json.loads baseline         {base['cpu_seconds']:>10.2f} s  [{base['seconds']:.2f}]  "
          f"({base['records'] / base['cpu_seconds']:,.0f} rec/s)")
    print(f"build_sft_stage             {build['cpu_seconds']:>10.2f} s  [{build['seconds']:.2f}]  "
          f"({rate:,.0f} rec/s; target >= 20,000)")
    ratio = build["cpu_seconds"] / base["cpu_seconds"]
    print(f"build / baseline time       {ratio:>10.2f} x  (target <= 5; median round of {args.rounds}: "
          f"{', '.join(f'{r:.2f}' for r in paired)})")
    print(f"peak RSS at {build_small['records']:,} / {build['records']:,}  "
          f"{build_small['rss_mib']:.0f} / {build['rss_mib']:.0f} MiB  "
          f"(ratio {build['rss_mib'] / build_small['rss_mib']:.2f}; flat ~ 1)")


if __name__ == "__main__":
    main()
