"""benchmarks/repro_tuned_seed.py: SA and DE again with another seed from a CM model, paired against the published
seed-42 reports, with the mean over the seeds, the spread between them and DE's effect per seed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from benchmarks import repro_tuned_seed
from eval import bootstrap
from eval.report import difference_cell, score_cell
from launch.compose import compose_recipe
from launch.driver import execute_plan
from launch.plan import build_plan
from tests.benchmarks.test_repro_balanced import _played_reports
from tests.benchmarks.test_repro_tuned import all_right
from tests.helpers.recording_executor import RecordingExecutor

SEED = 43
# the played reports' two NER sets (tests.benchmarks.test_repro_balanced._played_reports): F1 0.5 and 1.0
PLAYED = [np.array([(1, 1, 1), (0, 1, 1)] * 10, float), np.array([(1, 1, 1)] * 5, float)]
RIGHT = [np.array([(1, 1, 1)] * 20, float), np.array([(1, 1, 1)] * 5, float)]


VALID = {"half": [1, 0] * 10, "all": [1] * 5}  # this run's SA: 15 of 25 outputs valid; the baseline's: all 25


def _with_valid(report: dict, flags: dict[str, list[int]]) -> dict:
    """A played report that keeps which of its records were valid (every output parsed)."""
    for d in report["datasets"]:
        valid = flags.get(d["key"], [1] * d["validity"]["n"])
        d["validity"] = {"n": len(valid), "parsed_rate": 1.0, "valid_rate": sum(valid) / len(valid),
                         "records": {"parsed": [1] * len(valid), "valid": valid}}
    return report


def _cell(values: np.ndarray, estimate: float) -> str:
    low, high = bootstrap.percentile_interval(values)
    return difference_cell({"diff": estimate, "low": low, "high": high})


@pytest.fixture(scope="module")
def published(tmp_path_factory, tiny_model_dir):
    """The smoke recipe planned with the script's command (CM skipped, the tiny model as the CM model), backends
    played: both models score 0.75; the seed-42 baseline's SA 1.0 and its final model 0.75, on the same records."""
    runs = tmp_path_factory.mktemp("runs")
    argv = repro_tuned_seed.command(runs, "x", SEED, tiny_model_dir)
    plan = build_plan(compose_recipe(["+experiment=smoke", *argv[3:]]))
    assert [s.name for s in plan.stages][:1] == ["sa"] and plan.run_dir == runs / "repro_tuned_s43"
    execute_plan(plan, RecordingExecutor())
    _played_reports(plan.run_dir)
    docs = tmp_path_factory.mktemp("docs")
    baseline = docs / "baseline"  # the seed-42 reports (docs/repro_tuned/reports/ in the repository)
    baseline.mkdir()
    sa_report = plan.run_dir / "eval_sa" / "output" / "report.json"
    played = json.loads(sa_report.read_text())
    (baseline / "sa.json").write_text(json.dumps(all_right(_with_valid(json.loads(json.dumps(played)), {}))))
    sa_report.write_text(json.dumps(_with_valid(played, VALID)))
    (baseline / "final_de_ee.json").write_text((plan.run_dir / "eval" / "output" / "report.json").read_text())
    out = docs / f"seed{SEED}"
    out.mkdir()
    return plan, repro_tuned_seed.publish(runs, out, SEED, baseline, None).read_text(), out


def _row(text: str, section: str, first: str) -> list[str]:
    body = text.split(f"## {section}")[1].split("\n## ")[0]
    [row] = [line for line in body.splitlines() if line.startswith(f"| {first} |")]
    return row.split(" | ")


def test_the_command_trains_sa_and_de_with_the_seed_from_the_cm_model(published, tiny_model_dir):
    plan, text, _ = published
    assert [s.name for s in plan.stages] == ["sa", "de_ner", "de_re", "de_ee", "eval_sa", "eval"]
    assert plan.stages[0].config["model_name_or_path"] == str(tiny_model_dir)
    assert {s.settings.seed for s in plan.stages} == {SEED}
    [shown] = [line for line in text.splitlines() if line.startswith("    python launch/run_pipeline.py")]
    assert "seed=43" in shown and shown.endswith("pipeline.eval.models=[sa,final]")


def test_each_model_is_paired_against_the_seed_42_model_of_its_stage(published):
    _, text, out = published
    section = "Seed 43 against seed 42"
    expected = difference_cell(dict(zip(("diff", "low", "high"), bootstrap.paired_difference(PLAYED, RIGHT))))
    assert expected.startswith("−25.0 [") and expected.endswith("*")
    row = _row(text, section, "sa (seed 43)")
    assert row[1:3] == ["sa (seed 42)", expected]
    strata = [np.column_stack([VALID[k], np.ones(len(VALID[k])), np.ones(len(VALID[k]))]) for k in ("half", "all")]
    rates = bootstrap.replicates(strata, weights=[20, 5])  # the pooled rate, each set weighted by its size
    assert row[-2:] == ["+0.0 [0.0, 0.0]", _cell(rates - 1.0, 15 / 25 - 1.0) + " |"]  # parsed, valid
    assert _row(text, section, "de_ee (seed 43)")[-1] == "– |"  # the final reports keep rates only
    assert _row(text, section, "de_ee (seed 43)")[1:3] == ["de_ee (seed 42)", "+0.0 [0.0, 0.0]"]
    assert (out / "progression.md").is_file() and (out / "RUN.md").is_file()


def _t_cell(values: list[float]) -> tuple[float, float]:
    """A t interval of the mean by its closed form (t quantiles of 0.975 at df 1 and 2 from tables)."""
    quantile = {2: 12.706204736174698, 3: 4.302652729911275}[len(values)]
    half = quantile * float(np.std(values, ddof=1)) / np.sqrt(len(values))
    return float(np.mean(values)) - half, float(np.mean(values)) + half


def test_the_seeds_page_carries_the_mean_the_spread_and_des_effect_per_seed(published):
    plan, _, out = published
    text = (out.parent / "seeds.md").read_text()
    assert text.startswith("# repro_tuned: every published seed\n\nSeeds 42, 43:")
    played, right = bootstrap.replicates(PLAYED), bootstrap.replicates(RIGHT)  # same records: same resamples
    mean_sa = (played + right) / 2
    sa = _row(text, "Mean over the seeds", "sa")
    # sd of two runs: |1.0 - 0.75| / sqrt 2; [seeds]: mean +- t(0.975, df 1) sd / sqrt 2, clipped to [0, 1]
    low, high = _t_cell([1.0, 0.75])
    assert low < 0.0 and high > 1.0
    assert sa[1:4] == [score_cell(0.875, bootstrap.percentile_interval(mean_sa)), "17.7",
                       score_cell(0.875, [0.0, 1.0])]
    assert _row(text, "Mean over the seeds", "de_ee")[1:4] == [
        score_cell(0.75, bootstrap.percentile_interval(played)), "0.0", "75.0"]  # no spread: no t interval
    assert _row(text, "Each seed's models", "sa | 42")[2] == score_cell(1.0, [1.0, 1.0])
    assert _row(text, "Each seed's models", "sa | 43")[2] == score_cell(0.75, bootstrap.percentile_interval(played))
    section = "DE's effect: final minus SA"
    assert _row(text, section, "42")[1] == _cell(played - right, -0.25)
    assert _row(text, section, "43")[1] == "+0.0 [0.0, 0.0]"
    assert _row(text, section, "mean [record]")[1] == _cell(played - mean_sa, -0.125)
    low, high = _t_cell([-0.25, 0.0])
    assert _row(text, section, "mean [seeds]")[1] == difference_cell({"diff": -0.125, "low": low, "high": high})
    assert "Over every published seed" in (out / "RUN.md").read_text()
    ours = plan.run_dir / "eval_sa" / "output" / "report.json"
    assert (out / "reports" / "sa.json").read_bytes() == ours.read_bytes()


def test_a_third_seed_joins_the_seeds_page_with_t_intervals_over_three(published, tmp_path):
    plan, _, out = published
    docs = tmp_path / "docs"
    shutil.copytree(out, docs / f"seed{SEED}")
    third = docs / "seed44" / "reports"  # SA as seed 43's played report, final all right: DE +0.25
    third.mkdir(parents=True)
    shutil.copyfile(out / "reports" / "final_de_ee.json", third / "sa.json")
    final = all_right(json.loads((out / "reports" / "sa.json").read_text()))
    (third / "final_de_ee.json").write_text(json.dumps(final))
    (docs / "seedling" / "reports").mkdir(parents=True)  # not a seed folder: ignored
    repro_tuned_seed.publish(plan.run_dir.parent, docs / f"seed{SEED}", SEED, out.parent / "baseline", None)
    text = (docs / "seeds.md").read_text()
    assert "Seeds 42, 43, 44:" in text
    effects = [-0.25, 0.0, 0.25]  # mean 0, sd 0.25: half width t(0.975, df 2) 0.25 / sqrt 3
    low, high = _t_cell(effects)
    assert round(high, 4) == 0.6210
    assert _row(text, "DE's effect: final minus SA", "mean [seeds]")[1] == difference_cell(
        {"diff": 0.0, "low": low, "high": high})
    assert [r.split(" | ")[1] for r in text.splitlines() if r.startswith("| de_ee | ")][:3] == ["42", "43", "44"]
def test_without_baseline_reports_nothing_is_paired(published, tmp_path):
    plan, _, _ = published
    text = repro_tuned_seed.publish(plan.run_dir.parent, tmp_path / "docs", SEED, tmp_path / "none", None).read_text()
    assert "## Against seed 42\n\nNot paired: no reports in" in text and "## Over the two seeds" not in text


def test_the_published_seed_and_a_missing_cm_model_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        repro_tuned_seed.main(["--seed", "42", "--runs", str(tmp_path)])
    assert "--seed 42 is the published run's seed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        repro_tuned_seed.main(["--seed", "43", "--runs", str(tmp_path), "--data-root", "x"])
    assert "repro_tuned/cm_all/output is missing: run python benchmarks/repro_tuned.py" in capsys.readouterr().err
