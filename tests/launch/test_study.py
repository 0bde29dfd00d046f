"""Studies share every stage they can: which stages run, linking, verification, resume and the report.

The backends are played by the recording executor (tests/helpers), so what is tested is the study and the
driver's sharing: which stages ran, in which run folder, and what was linked instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from launch.compose import RECIPES
from launch.reuse import finished_stages, verified
from launch.run_dir import output_sha256
from launch.stage import StageFailed
from launch.study import execute_study, plan_study, print_dry_run, shared_stages
from tests.helpers.recording_executor import RecordingExecutor

SMOKE = ["+experiment=smoke"]
TRAINING = ["cm_ner", "cm_ner_re", "cm_all", "sa", "de_ner", "de_re", "de_ee"]


def study(name: str) -> dict:
    return yaml.safe_load((RECIPES / "study" / f"{name}.yaml").read_text())


def run_study(tmp_path: Path, name: str, executor: RecordingExecutor, *overrides: str):
    root, variants = plan_study([*SMOKE, f"pipeline.run_dir={tmp_path / name}", *overrides], study(name))
    report = execute_study(root, variants, executor, Console(stderr=True, quiet=True), study(name))
    return root, variants, report


def ran(executor: RecordingExecutor, root: Path) -> list[str]:
    """``variant/stage`` of every stage the backends ran."""
    return [f"{d.parent.name}/{d.name}" for d in executor.ran_in if d.is_relative_to(root)]


def test_table5_runs_each_distinct_stage_once(tmp_path):
    executor = RecordingExecutor()
    root, variants, report = run_study(tmp_path, "table5", executor)
    assert ran(executor, root) == [*(f"full/{s}" for s in TRAINING), "full/eval_cm_all", "full/eval_sa", "full/eval",
                                   "wo_sa/de_ner", "wo_sa/de_re", "wo_sa/de_ee", "wo_sa/eval"]
    # shared stages are links to the stage that first finished, not copies
    for name in ("cm_ner", "cm_ner_re", "cm_all"):
        assert (root / "cm_only" / name).is_symlink()
        assert (root / "cm_only" / name).resolve() == (root / "full" / name).resolve()
    assert (root / "wo_de" / "eval").resolve() == (root / "full" / "eval_sa").resolve()  # w/o DE = SA's evaluation
    assert (root / "cm_only" / "eval").resolve() == (root / "full" / "eval_cm_all").resolve()
    summary = json.loads((root / "wo_de" / "summary.json").read_text())
    rows = {r["stage"]: r for r in summary["stages"]}
    assert rows["eval"]["status"] == "shared" and rows["eval"]["evaluates"] == "sa"
    assert [r["row"] for r in report["table5"]] == ["ProUIE (CM+SA+DE)", "w/o SA (CM+DE)", "w/o DE (CM+SA)",
                                                    "CM only"]
    assert report["variants"]["cm_only"]["final_model"] == "cm_all"
    assert report["table5"][0]["paper"] == {"ner": 79.44, "re": 71.17, "ee": 61.73}
    for name in ("study.md", "study.json", "table5.png"):
        assert (root / name).is_file()


def test_the_dry_run_names_shared_stages_and_the_gpu_hour_saving(tmp_path):
    root, variants = plan_study(["+experiment=prouie_4b", f"pipeline.run_dir={tmp_path}"], study("table5"))
    shared = shared_stages(variants)
    assert shared[("wo_sa", "cm_all")] == "full" and shared[("cm_only", "eval")] == "full"
    assert ("wo_sa", "de_ner") not in shared  # DE from cm_all is new work
    totals = print_dry_run(root, variants, Console(stderr=True, quiet=True))
    from launch.estimate import gpu_hours

    full = {s.name: gpu_hours(s) or 0.0 for s in variants[0].plan.stages}
    de = full["de_ner"] + full["de_re"] + full["de_ee"]
    assert totals["study_gpu_hours"] == pytest.approx(sum(full.values()) + de)  # the full run + w/o SA's DE
    assert totals["naive_gpu_hours"] > 1.7 * totals["study_gpu_hours"]


def test_an_interrupted_study_resumes_without_recomputing_a_finished_stage(tmp_path):
    failing = RecordingExecutor(fail={str(tmp_path / "table5" / "wo_sa" / "de_re")})
    with pytest.raises(StageFailed, match="de_re"):
        run_study(tmp_path, "table5", failing)
    first = ran(failing, tmp_path / "table5")
    assert first[-2:] == ["wo_sa/de_ner", "wo_sa/de_re"]
    rerun = RecordingExecutor()
    run_study(tmp_path, "table5", rerun)
    assert ran(rerun, tmp_path / "table5") == ["wo_sa/de_re", "wo_sa/de_ee", "wo_sa/eval"]


def test_a_tampered_shared_stage_is_not_reused(tmp_path):
    root, variants, _ = run_study(tmp_path, "table5", RecordingExecutor())
    full_sa = root / "full" / "sa"
    fingerprint = json.loads((full_sa / "DONE").read_text())["fingerprint"]
    assert verified(full_sa, fingerprint)
    (full_sa / "output" / "model.safetensors").write_text("changed on disk")
    assert not verified(full_sa, fingerprint)
    # a later study that points at this run (pipeline.reuse) recomputes sa instead of building on changed weights
    executor = RecordingExecutor()
    other = tmp_path / "other"
    _, again = plan_study([*SMOKE, f"pipeline.run_dir={other}", f"pipeline.reuse=[{root / 'full'}]"],
                          study("table5"))
    execute_study(other, again, executor, Console(stderr=True, quiet=True), study("table5"))
    assert "full/sa" in ran(executor, other)
    assert "full/cm_all" not in ran(executor, other)  # the untouched stages are still shared
    assert (full_sa / "output" / "model.safetensors").read_text() == "changed on disk"  # the source is untouched


def test_a_linked_stage_whose_inputs_change_is_unlinked_never_written_through(tmp_path):
    root, _, _ = run_study(tmp_path, "table5", RecordingExecutor())
    source = (root / "cm_only" / "cm_all").resolve()
    before = output_sha256(source / "output")
    executor = RecordingExecutor()
    changed = "+stages.cm_all.args.learning_rate=5e-4"
    _, variants = plan_study([*SMOKE, f"pipeline.run_dir={tmp_path / 'table5'}", changed], study("table5"))
    from launch.driver import execute_plan

    execute_plan(variants[3].plan, executor, Console(stderr=True, quiet=True))  # cm_only alone, cm_all changed
    assert not (root / "cm_only" / "cm_all").is_symlink() and (root / "cm_only" / "cm_all" / "DONE").is_file()
    assert output_sha256(source / "output") == before and source == (root / "full" / "cm_all").resolve()


def test_table7_shares_cm_and_sa_and_reruns_de_per_reward_variant(tmp_path):
    executor = RecordingExecutor()
    root, _, report = run_study(tmp_path, "table7", executor)
    assert [s for s in ran(executor, root) if s.startswith(("coarse_only/", "fine_only/"))] == [
        f"{v}/{s}" for v in ("coarse_only", "fine_only") for s in ("de_ner", "de_re", "de_ee", "eval")]
    assert [r["row"] for r in report["table7"]] == ["Coarse-to-fine SFR", "Coarse-only", "Fine-only"]
    index = finished_stages([root / "sfr", root / "coarse_only"])
    assert len(index) == len(set(index))  # one folder per fingerprint


def test_a_study_with_an_unknown_key_is_a_config_error():
    with pytest.raises(ValueError, match=r"study.variants.full: unknown key\(s\) \['override'\]"):
        plan_study(SMOKE, {"name": "x", "variants": {"full": {"override": []}}})
    with pytest.raises(ValueError, match="study.tables: unknown"):
        plan_study(SMOKE, {"name": "x", "tables": ["table9"], "variants": {"full": {}}})


def _report_with_counts(path: Path, ner: list, trigger: list, argument: list) -> None:
    """An eval report holding per-record counts (as eval/run_benchmark.py writes them), NER and EE, and the
    averages they give (RE absent)."""
    import numpy as np

    from eval import bootstrap

    def part(rows: list) -> dict:
        return {"score": 0.0, "records": {k: [r[i] for r in rows] for i, k in enumerate(("tp", "n_pred", "n_gold"))}}

    def dataset(key: str, task: str, scores: dict) -> dict:
        return {"key": key, "task": task, "records_id": f"ids-{key}",
                "validity": {"n": 1, "parsed_rate": 1.0, "valid_rate": 1.0},
                "scores": {"strict": scores, "instructuie": scores}}

    report = json.loads(path.read_text())
    datasets = [dataset("n", "ner", part(ner)), dataset("e", "ee", {"trigger": part(trigger),
                                                                    "argument": part(argument)})]
    averages = {f"{m}/{s}": bootstrap.estimate([np.array(c)]) for m, c in
                (("ner", ner), ("ee_trigger", trigger), ("ee_argument", argument)) for s in ("strict", "instructuie")}
    path.write_text(json.dumps({**report, "datasets": datasets, "averages": averages}))


def test_the_study_report_gives_intervals_and_paired_differences_to_the_reference_variant(tmp_path):
    import numpy as np

    from eval import bootstrap
    from eval.progression import from_summary
    from eval.report import difference_cell
    from launch.study import write_report

    root, variants, _ = run_study(tmp_path, "table5", RecordingExecutor())
    good, bad = [(1, 1, 1), (1, 2, 1), (0, 1, 1)] * 8, [(0, 1, 1), (1, 2, 1), (0, 1, 1)] * 8
    counts = {"full": (good, good, bad), "wo_sa": (bad, good, good), "wo_de": (good, bad, bad),
              "cm_only": (good, good, bad)}
    for v in variants:
        final = next(r for r in from_summary(v.plan.run_dir)["rows"] if r["final"])
        _report_with_counts(Path(final["report"]), *counts[v.name])
    data = write_report(root, variants, study("table5"))
    assert data["reference"] == "full" and data["variants"]["full"]["vs_reference"] is None
    ner = data["variants"]["wo_sa"]["vs_reference"]["strict"]["ner"]
    expected = bootstrap.paired_difference([np.array(bad)], [np.array(good)])
    assert (ner["diff"], ner["low"], ner["high"]) == pytest.approx(expected, abs=1e-15) and ner["significant"]
    assert data["variants"]["cm_only"]["vs_reference"]["strict"]["ner"]["diff"] == 0.0
    # EE = mean of trigger and argument F1, resampled together: wo_sa's argument gains what wo_de's trigger loses
    reps = {name: (bootstrap.replicates([np.array(t)]) + bootstrap.replicates([np.array(a)])) / 2
            for name, (_, t, a) in counts.items()}
    ee = data["variants"]["wo_sa"]["vs_reference"]["instructuie"]["ee"]
    assert [ee["low"], ee["high"]] == pytest.approx(list(bootstrap.percentile_interval(reps["wo_sa"] - reps["full"])))
    assert data["variants"]["full"]["intervals"]["strict"]["ee"] == pytest.approx(
        list(bootstrap.percentile_interval(reps["full"])))
    md = (root / "study.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| w/o SA (CM+DE) | wo_sa | ") and "*" in line)
    ner_iuie = data["variants"]["wo_sa"]["vs_reference"]["instructuie"]["ner"]
    assert row.startswith(f"| w/o SA (CM+DE) | wo_sa | {difference_cell(ner_iuie)} | {difference_cell(ner)} | ")
    assert "Minus the reference variant `full`" in md
    with pytest.raises(ValueError, match=r"study.reference: 'fulll' is not a variant"):
        plan_study(SMOKE, {**study("table5"), "reference": "fulll"})


def test_a_study_without_a_paper_table_reports_every_variant_with_intervals_and_paired_differences(tmp_path):
    """A user's own study (no ``tables:``): the markdown has a Variants table and the differences to the reference."""
    import numpy as np

    from eval import bootstrap
    from eval.progression import from_summary
    from eval.report import difference_cell, score_cell
    from launch.study import write_report

    spec = {"name": "scaling", "reference": "small", "common": ["pipeline.order=[cm_ner]"],
            "variants": {"small": {"overrides": ["stages.cm_ner.mixture={ner: 8}"]},
                         "large": {"overrides": ["stages.cm_ner.mixture={ner: 16}"]}}}
    executor = RecordingExecutor()
    root, variants = plan_study([*SMOKE, f"pipeline.run_dir={tmp_path / 'scaling'}"], spec)
    execute_study(root, variants, executor, Console(stderr=True, quiet=True), spec)
    assert ran(executor, root) == ["small/cm_ner", "small/eval_base", "small/eval", "large/cm_ner", "large/eval"]
    good, bad = [(1, 1, 1), (1, 2, 1), (1, 1, 1)] * 8, [(0, 1, 1), (1, 2, 1), (0, 1, 1)] * 8
    for v in variants:
        final = next(r for r in from_summary(v.plan.run_dir)["rows"] if r["final"])
        assert final["model"] == "cm_ner"
        _report_with_counts(Path(final["report"]), *((bad, bad, bad) if v.name == "small" else (good, bad, bad)))
    data = write_report(root, variants, spec)
    assert [r["variant"] for r in data["variants_table"]] == ["small", "large"]
    ner = data["variants"]["large"]["vs_reference"]["strict"]["ner"]
    expected = bootstrap.paired_difference([np.array(good)], [np.array(bad)])
    assert (ner["diff"], ner["low"], ner["high"]) == pytest.approx(expected, abs=1e-15) and ner["significant"]
    md = (root / "study.md").read_text()
    large = data["variants"]["large"]
    cell = {t: (f"{score_cell(large['instructuie'][t], large['intervals']['instructuie'][t])} "
                f"({score_cell(large['strict'][t], large['intervals']['strict'][t])})") for t in ("ner", "ee")}
    assert f"| large | `stages.cm_ner.mixture={{ner: 16}}` | {cell['ner']} | – (–) | {cell['ee']} |" in md  # no RE
    assert f"| large | {difference_cell(large['vs_reference']['instructuie']['ner'])} | " \
           f"{difference_cell(ner)} | " in md  # one label column: the variant's name, once
    assert "Minus the reference variant `small`" in md and (root / "variants.png").is_file()
    assert "variants_table" not in write_report(root, variants, {**spec, "tables": ["table7"]})
    assert "settings" not in data and "## Settings" not in md  # no replicates, no settings table


def test_replicates_of_a_variant_are_reported_as_one_setting_with_the_spread_between_runs(tmp_path):
    """Seeds of one setting (``replicate_of``): their mean with its interval over the test records (every run
    resampled on the same records), the standard deviation between runs, and the paired difference of the means."""
    import numpy as np

    from eval import bootstrap
    from eval.progression import from_summary
    from eval.report import difference_cell
    from launch.study import write_report

    mix = "stages.cm_ner.mixture={ner: %d}"
    spec = {"name": "seeds", "reference": "small", "common": ["pipeline.order=[cm_ner]"],
            "variants": {"small": {"overrides": [mix % 8]},
                         "small_s43": {"overrides": [mix % 8, "seed=43"], "replicate_of": "small"},
                         "large": {"overrides": [mix % 16]},
                         "large_s43": {"overrides": [mix % 16, "seed=43"], "replicate_of": "large"},
                         "large_s44": {"overrides": [mix % 16, "seed=44"], "replicate_of": "large"}}}
    root, variants = plan_study([*SMOKE, f"pipeline.run_dir={tmp_path / 'seeds'}"], spec)
    execute_study(root, variants, RecordingExecutor(), Console(stderr=True, quiet=True), spec)
    ner = {"small": [(0, 1, 1), (1, 2, 1), (0, 1, 1)] * 8, "small_s43": [(1, 1, 1), (0, 2, 1), (0, 1, 1)] * 8,
           "large": [(1, 1, 1), (1, 2, 1), (1, 1, 1)] * 8, "large_s43": [(1, 1, 1), (0, 1, 1), (1, 1, 1)] * 8,
           "large_s44": [(0, 1, 1), (1, 1, 1), (1, 2, 1)] * 8}
    ee = [(1, 1, 1)] * 24
    for v in variants:
        final = next(r for r in from_summary(v.plan.run_dir)["rows"] if r["final"])
        _report_with_counts(Path(final["report"]), ner[v.name], ee, ee)
    data = write_report(root, variants, spec)
    settings = {r["setting"]: r for r in data["settings"]}
    assert list(settings) == ["small", "large"] and settings["large"]["runs"] == ["large", "large_s43", "large_s44"]
    f1 = {name: bootstrap.estimate([np.array(c)]) for name, c in ner.items()}
    runs = [f1["large"], f1["large_s43"], f1["large_s44"]]
    assert settings["large"]["strict"]["ner"] == pytest.approx(np.mean(runs))
    assert settings["large"]["spread"]["strict"]["ner"] == pytest.approx(
        {"sd": float(np.std(runs, ddof=1)), "min": min(runs), "max": max(runs)})
    reps = {name: bootstrap.replicates([np.array(c)]) for name, c in ner.items()}
    small = (reps["small"] + reps["small_s43"]) / 2
    large = (reps["large"] + reps["large_s43"] + reps["large_s44"]) / 3
    assert settings["large"]["intervals"]["strict"]["ner"] == pytest.approx(
        list(bootstrap.percentile_interval(large)))
    diff = settings["large"]["vs_reference"]["strict"]["ner"]
    assert [diff["low"], diff["high"]] == pytest.approx(list(bootstrap.percentile_interval(large - small)))
    assert diff["diff"] == pytest.approx(np.mean(runs) - (f1["small"] + f1["small_s43"]) / 2)
    assert settings["small"]["vs_reference"] is None and settings["large"]["spread"]["strict"]["ee"]["sd"] == 0.0
    md = (root / "study.md").read_text()
    sd = settings["large"]["spread"]["instructuie"]["ner"]
    assert "| large | 3 | " in md and f"| {100 * sd['sd']:.1f} ({100 * sd['min']:.1f}–{100 * sd['max']:.1f}) |" in md
    assert "Minus the reference setting `small`" in md
    iuie = settings["large"]["vs_reference"]["instructuie"]["ner"]
    assert f"| large | large, large_s43, large_s44 | {difference_cell(iuie)} | {difference_cell(diff)} |" in md
    for name, of in (("small_s43", "small_s43"), ("small_s43", "nope"), ("large_s44", "large_s43")):
        wrong = {**spec, "variants": {**spec["variants"], name: {"replicate_of": of}}}
        with pytest.raises(ValueError, match=rf"study.variants.{name}.replicate_of: '{of}' must name another "
                                             "variant that is no replicate itself"):
            plan_study(SMOKE, wrong)
