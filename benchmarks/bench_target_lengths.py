"""Token and character lengths of CM vs SA targets on the bundled RE and EE data, shaped like Table 6.

    python benchmarks/bench_target_lengths.py [--profile default]

Tokens are counted with the smoke tokenizer (``launch.models.tiny``), so absolute token numbers are not
Qwen3's; the CM/SA ratio is what carries over.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from converters.bundled import BUNDLED, bundled_records  # noqa: E402
from converters.lengths import format_table, target_length_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    from launch.models.tiny import ensure_tiny_model

    tokenizer = AutoTokenizer.from_pretrained(str(ensure_tiny_model()))
    for task in ("re", "ee"):
        records = [r for name, entry in BUNDLED.items() if entry["task"] == task
                   for split in entry["splits"] for r in bundled_records(name, split)]
        print(f"\n== {task.upper()}: {len(records)} bundled records, profile {args.profile}")
        for unit, tok in (("chars", None), ("tokens", tokenizer)):
            table = target_length_table(records, profile=args.profile, tokenizer=tok)
            print(format_table(table, unit))
            ratio = table["sa"]["P99"]["mean"] / table["cm"]["P99"]["mean"]
            print(f"SA/CM mean {unit} (P99 bucket): {ratio:.2f}")


if __name__ == "__main__":
    main()
