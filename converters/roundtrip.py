"""Round-trip report: does parsing the rendered target give back exactly the gold units?

    python -m converters.roundtrip [--profile default paper] [--style cm sa] [--dataset NAME ...]
                                   [--spec '{"format": "canonical", "path": "my.jsonl"}' ...] [--check]

Per dataset, style and profile it prints the share of records that round-trip
(``converters.format.round_trips``) and lists the failures. Records whose gold values themselves contain the
profile's value separator are counted and listed apart: no format can split them back unambiguously without
the substring rule, and the ``paper`` profile's separator is a single space. ``--check`` exits 1 when any
other record fails (the default profile must round-trip all of them).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterable, Mapping, Sequence

from converters.bundled import BUNDLED, bundled_spec
from converters.format import PROFILES, STYLES, get_profile, round_trips
from converters.readers import read_source
from converters.records import gold_units


def gold_values(record: Mapping[str, Any]) -> list[str]:
    """Every string value a target of the record contains (mentions, heads, tails, triggers, arguments)."""
    units = gold_units(record)
    values = [v for _, v in units.entities] + [s for _, h, t in units.relations for s in (h, t)]
    for event in units.events:
        values += [event.trigger, *(a for _, a in event.arguments)]
    return values


def roundtrip_report(records: Iterable[Mapping[str, Any]], style: str = "cm", profile: str = "default") -> dict:
    """Counts and ids: round-tripping records, failures, and records whose gold values contain the separator."""
    sep = get_profile(profile).value_sep
    total, ok, failures, with_sep = 0, 0, [], []
    for rec in records:
        total += 1
        if round_trips(rec, style, profile):
            ok += 1
        elif any(sep in v for v in gold_values(rec)):
            with_sep.append(rec["id"])
        else:
            failures.append(rec["id"])
    return {"style": style, "profile": profile, "records": total, "round_trip": ok,
            "rate": ok / total if total else 1.0, "separator_in_gold": with_sep, "failures": failures}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m converters.roundtrip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", nargs="+", default=sorted(PROFILES), choices=sorted(PROFILES))
    parser.add_argument("--style", nargs="+", default=list(STYLES), choices=STYLES)
    parser.add_argument("--dataset", nargs="+", default=None, help=f"bundled names (default all: {sorted(BUNDLED)})")
    parser.add_argument("--spec", action="append", default=[], help="a read_source spec as JSON (repeatable)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a record without separator fails")
    args = parser.parse_args(argv)
    sources: list[tuple[str, dict[str, Any]]] = []
    if args.dataset is not None or not args.spec:
        for name in args.dataset or sorted(BUNDLED):
            sources += [(f"{name}/{split}", bundled_spec(name, split)) for split in BUNDLED[name]["splits"]]
    for raw in args.spec:
        spec = json.loads(raw)
        sources.append((str(spec.get("dataset", spec.get("path"))), spec))
    failed = 0
    print(f"{'source':32} {'style':5} {'profile':8} {'records':>7} {'rate':>8} {'sep-in-gold':>11} {'failures':>8}")
    for label, spec in sources:
        records = list(read_source(spec))
        for profile in args.profile:
            for style in args.style:
                rep = roundtrip_report(records, style, profile)
                failed += len(rep["failures"])
                print(f"{label:32} {style:5} {profile:8} {rep['records']:7d} {rep['rate']:8.2%} "
                      f"{len(rep['separator_in_gold']):11d} {len(rep['failures']):8d}")
                for rid in rep["failures"]:
                    print(f"    FAIL {rid}")
                for rid in rep["separator_in_gold"]:
                    print(f"    separator in gold: {rid}")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
