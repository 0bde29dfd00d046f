"""benchmarks/bench_constrained.py end to end on the tiny model: the table and JSON it publishes carry intervals
that agree with the bootstrap on the same records, and the constrained outputs all parse."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from tests.helpers.smoke_runs import REPO


def test_the_benchmark_writes_f1_with_intervals_and_paired_differences(tiny_model_dir: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "constrained.json"
    monkeypatch.setattr(sys, "argv", ["bench_constrained.py", "--model", str(tiny_model_dir), "--limit", "2",
                                      "--batch-size", "2", "--max-new-tokens", "24", "--out", str(out),
                                      "--device", "cpu"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "benchmarks" / "bench_constrained.py"), run_name="__main__")
    assert done.value.code == 0
    results = json.loads(out.read_text())
    names = [row["name"] for row in results["datasets"]]
    assert "bundled_phee (trigger)" in names and "bundled_phee (argument)" in names and len(names) == 9
    assert [row["name"] for row in results["tasks"]] == ["ner mean", "re mean", "ee mean (trigger)",
                                                         "ee mean (argument)"]
    assert results["tasks"][0]["records"] == 12
    for row in results["datasets"] + results["tasks"]:
        for mode in ("free", "constrained"):
            assert row[mode]["low"] <= row[mode]["f1"] <= row[mode]["high"], row
        diff = row["difference"]
        assert diff["diff"] == pytest.approx(row["constrained"]["f1"] - row["free"]["f1"])
        assert diff["low"] <= diff["diff"] <= diff["high"]
        assert diff["significant"] == (diff["low"] > 0 or diff["high"] < 0)
    table = out.with_suffix(".md").read_text()
    assert table.count("\n| bundled_") == 9 and "constrained - free" in table and "tokens/s" in table
    assert results["speed"]["constrained"]["tokens"] > 0
