"""The progression table carries intervals and paired stage-to-stage differences read from the eval reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval import bootstrap
from eval.progression import markdown, plot, progression
from eval.report import difference_cell, score_cell

BASE = [(0, 1, 1), (0, 0, 2), (1, 2, 1), (0, 1, 1)] * 10
STAGE = [(1, 1, 1), (1, 1, 2), (1, 2, 1), (0, 1, 1)] * 10
OTHER = [(1, 1, 1), (1, 1, 2)] * 10


def write_report(path: Path, ner: list[tuple[int, int, int]], rid: str = "ids", with_counts: bool = True) -> Path:
    f1 = float(bootstrap.estimate([np.array(ner)]))
    part = {"score": f1}
    if with_counts:
        part["records"] = {"tp": [r[0] for r in ner], "n_pred": [r[1] for r in ner], "n_gold": [r[2] for r in ner]}
    validity = {"n": len(ner), "parsed_rate": 1.0, "valid_rate": 1.0}
    report = {"benchmark": "toy", "length_unit": "tokens", "lengths": {},
              "averages": {"ner/strict": f1, "ner/instructuie": f1},
              "datasets": [{"key": "toy_ner", "task": "ner", "records_id": rid, "validity": validity,
                            "scores": {"strict": part, "instructuie": part}}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path


def test_rows_carry_intervals_and_paired_differences_to_the_previous_and_the_first_model(tmp_path: Path) -> None:
    data = progression([("base", write_report(tmp_path / "b.json", BASE), False),
                        ("cm_ner", write_report(tmp_path / "s.json", STAGE), False),
                        ("final", write_report(tmp_path / "f.json", STAGE), True)])
    base, stage, final = data["rows"]
    assert base["intervals"]["strict"]["ner"] == list(bootstrap.interval([np.array(BASE)]))
    assert base["intervals"]["strict"]["re"] is None and "vs_previous" not in base
    diff = stage["vs_previous"]["strict"]["ner"]
    expected = bootstrap.paired_difference([np.array(STAGE)], [np.array(BASE)])
    assert stage["vs_previous"]["model"] == stage["vs_first"]["model"] == "base"
    assert (diff["diff"], diff["low"], diff["high"]) == pytest.approx(expected, abs=1e-15) and diff["significant"]
    assert final["vs_previous"]["model"] == "cm_ner" and final["vs_first"]["model"] == "base"
    assert final["vs_previous"]["strict"]["ner"] == {"diff": 0.0, "low": 0.0, "high": 0.0, "significant": False}
    assert final["vs_first"]["instructuie"]["ner"] == pytest.approx(diff)
    md = markdown(data, paper={})
    assert md.startswith("# What each stage adds (benchmark `toy`: not in the catalogue)\n")
    assert f"| cm_ner | {score_cell(stage['scores']['strict']['ner'], stage['intervals']['strict']['ner'])} | " in md
    pairs = ("| cm_ner | base |", "| final | cm_ner |", "| final | base |")
    lines = [x for x in md.splitlines() if x.startswith(pairs)]
    assert len(lines) == 3 and lines[0].startswith(f"| cm_ner | base | {difference_cell(diff)} | ")
    assert difference_cell(diff).endswith("*") and "| final | cm_ner | +0.0 [0.0, 0.0] |" in md
    ner_iuie = score_cell(final["scores"]["instructuie"]["ner"], final["intervals"]["instructuie"]["ner"])
    assert f"| ProUIE (CM+SA+DE) | final | {ner_iuie} | – |" in md
    plot(data, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_models_scored_on_other_records_or_old_reports_get_no_interval(tmp_path: Path) -> None:
    data = progression([("base", write_report(tmp_path / "b.json", BASE), False),
                        ("other", write_report(tmp_path / "o.json", OTHER, rid="other-ids"), False),
                        ("old", write_report(tmp_path / "x.json", STAGE, with_counts=False), True)])
    other, old = data["rows"][1:]
    assert other["intervals"]["strict"]["ner"] is not None and other["vs_previous"]["strict"]["ner"] is None
    assert old["intervals"]["strict"]["ner"] is None and old["vs_first"]["strict"]["ner"] is None
    md = markdown(data, paper={})
    assert f"| old | {score_cell(old['scores']['strict']['ner'])} | " in md  # the number alone
    assert "| other | base | – | – |" in md
    assert "| ProUIE (CM+SA+DE) | old | " + score_cell(old["scores"]["instructuie"]["ner"]) + " | – |" in md


def test_the_validity_rates_carry_the_interval_of_a_proportion_pooled_over_datasets(tmp_path: Path) -> None:
    """Against scipy's stratified bootstrap of the pooled rate (same seed: same resamples) and the closed form."""
    from scipy import stats

    sizes, valid = (200, 50), (120, 45)  # 60 % and 90 %: pooled 165/250 = 66 %, not the 75 % mean of the two
    report = json.loads(write_report(tmp_path / "r.json", BASE).read_text())
    report["datasets"] = [{**report["datasets"][0], "key": f"d{i}",
                           "validity": {"n": n, "parsed_rate": 1.0, "valid_rate": k / n}}
                          for i, (n, k) in enumerate(zip(sizes, valid))]
    (tmp_path / "r.json").write_text(json.dumps(report))
    row = progression([("final", tmp_path / "r.json", True)])["rows"][0]
    assert row["validity"] == pytest.approx({"parsed": 1.0, "valid": 165 / 250})
    assert row["validity_intervals"]["parsed"] == [1.0, 1.0]
    flags = [np.array([1.0] * k + [0.0] * (n - k)) for n, k in zip(sizes, valid)]
    res = stats.bootstrap(tuple(flags), lambda a, b, axis=-1: (a.sum(axis) + b.sum(axis)) / 250, n_resamples=1000,
                          method="percentile", vectorized=True, rng=np.random.default_rng(bootstrap.SEED))
    low, high = row["validity_intervals"]["valid"]
    assert (low, high) == pytest.approx((res.confidence_interval.low, res.confidence_interval.high), abs=1e-12)
    se = np.sqrt(sum(k / n * (1 - k / n) * n for n, k in zip(sizes, valid))) / 250  # stratified binomial
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.12)
    md = markdown(progression([("final", tmp_path / "r.json", True)]), paper={})
    assert f"| {score_cell(1.0, [1.0, 1.0])} | {score_cell(165 / 250, [low, high])} |" in md


def _with_validity(path: Path, valid: list[int] | None) -> Path:
    """The report at ``path`` with every record parsed and ``valid`` (0/1 per record; None: an older report that
    keeps the rates only)."""
    report = json.loads(path.read_text())
    n = report["datasets"][0]["validity"]["n"]
    flags = valid if valid is not None else [1] * n
    report["datasets"][0]["validity"] = {"n": n, "parsed_rate": 1.0, "valid_rate": sum(flags) / n}
    if valid is not None:
        report["datasets"][0]["validity"]["records"] = {"parsed": [1] * n, "valid": valid}
    path.write_text(json.dumps(report))
    return path


def test_validity_differences_are_paired_on_the_records_that_passed(tmp_path: Path) -> None:
    """Against scipy's paired bootstrap (same seed: same resamples) of the difference of two rates on 40 records."""
    from scipy import stats

    before = [1, 0] * 20  # 50 % valid, every other record
    after = [1, 1, 1, 0] * 7 + [0] * 12  # 52.5 %: which records passed matters, not only how many
    data = progression([("sa", _with_validity(write_report(tmp_path / "s.json", BASE), before), False),
                        ("final", _with_validity(write_report(tmp_path / "f.json", STAGE), after), True)])
    diff = data["rows"][1]["vs_previous"]["validity"]["valid"]
    res = stats.bootstrap((np.array(after, float), np.array(before, float)),
                          lambda a, b, axis=-1: a.mean(axis) - b.mean(axis), paired=True, n_resamples=1000,
                          method="percentile", vectorized=True, rng=np.random.default_rng(bootstrap.SEED))
    assert diff["diff"] == pytest.approx(0.025)
    assert (diff["low"], diff["high"]) == pytest.approx((res.confidence_interval.low, res.confidence_interval.high),
                                                        abs=1e-12)
    unordered = stats.bootstrap((np.sort(after)[::-1].astype(float), np.sort(before)[::-1].astype(float)),
                                lambda a, b, axis=-1: a.mean(axis) - b.mean(axis), paired=True, n_resamples=1000,
                                method="percentile", vectorized=True, rng=np.random.default_rng(bootstrap.SEED))
    assert unordered.confidence_interval.high - unordered.confidence_interval.low < diff["high"] - diff["low"] - 0.05
    assert data["rows"][1]["vs_previous"]["validity"]["parsed"] == {"diff": 0.0, "low": 0.0, "high": 0.0,
                                                                    "significant": False}
    md = markdown(data, paper={})
    assert f"| final | sa | {difference_cell(data['rows'][1]['vs_previous']['strict']['ner'])} | " in md
    assert md.splitlines()[[i for i, x in enumerate(md.splitlines()) if x.startswith("| final | sa |")][0]].endswith(
        f"| +0.0 [0.0, 0.0] | {difference_cell(diff)} |")
    # an older report (rates only) has an interval of its own but no paired difference
    old = progression([("sa", _with_validity(write_report(tmp_path / "s.json", BASE), None), False),
                       ("final", tmp_path / "f.json", True)])
    assert old["rows"][0]["validity_intervals"]["valid"] == [1.0, 1.0]
    assert old["rows"][1]["vs_previous"]["validity"] == {"parsed": None, "valid": None}
    assert [x for x in markdown(old, paper={}).splitlines() if x.startswith("| final | sa |")][0].endswith("| – | – |")
    _with_validity(tmp_path / "f.json", after[:-1])  # a flag short of the records
    with pytest.raises(ValueError, match="dataset 'toy_ner': validity.records.valid has 39 flags for n = 40"):
        progression([("final", tmp_path / "f.json", True)])


def test_reports_named_on_the_command_line_are_paired_in_their_order(tmp_path: Path, capsys) -> None:
    from eval.progression import main

    a, b = write_report(tmp_path / "a.json", BASE), write_report(tmp_path / "b.json", STAGE)
    out = str(tmp_path / "o")
    assert main(["--report", f"sa (machine A)={a}", "--report", f"sa (machine B)={b}", "--out", out]) == 0
    data = json.loads((tmp_path / "o" / "progression.json").read_text())
    assert [r["model"] for r in data["rows"]] == ["sa (machine A)", "sa (machine B)"] and not data["full_run"]
    expected = bootstrap.paired_difference([np.array(STAGE)], [np.array(BASE)])
    diff = data["rows"][1]["vs_previous"]["strict"]["ner"]
    assert (diff["diff"], diff["low"], diff["high"]) == pytest.approx(expected, abs=1e-15)
    assert "| sa (machine B) | sa (machine A) |" in capsys.readouterr().out
    for bad, message in ((["--report", str(a), "--out", "x"], "expected LABEL=PATH"),
                         (["--report", f"x={tmp_path / 'none.json'}", "--out", "x"], "no report at"),
                         (["--report", f"x={a}"], "--report needs --out"),
                         ([str(tmp_path), "--report", f"x={a}", "--out", "x"], "not both")):
        with pytest.raises(SystemExit):
            main(bad)
        assert message in capsys.readouterr().err
