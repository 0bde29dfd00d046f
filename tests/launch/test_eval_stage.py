"""The pipeline's eval stage reads the config file rendered into its stage folder, like every other stage."""

from __future__ import annotations

import json

import pytest
import yaml

from launch.compose import compose_recipe
from launch.driver import execute_plan
from launch.executors.local import LocalExecutor
from launch.plan import build_plan

TRAINING = "[cm_ner,cm_ner_re,cm_all,sa,de_ner,de_re,de_ee]"


def eval_only_plan(run_dir, eval_overrides=()):
    """The smoke recipe with every training stage skipped: eval of the base model, two records of one dataset."""
    cfg = compose_recipe(["+experiment=smoke", f"pipeline.skip={TRAINING}", "pipeline.eval.benchmark=bundled_ncbi",
                          "pipeline.eval.limit=2", "pipeline.eval.max_new_tokens=8"])
    cfg["pipeline"]["run_dir"] = str(run_dir)  # set after composition: Hydra's grammar is not involved
    cfg["pipeline"]["eval"]["overrides"] = list(eval_overrides)
    return build_plan(cfg)


def test_eval_runs_under_a_run_folder_hydra_overrides_could_not_express(tmp_path, tiny_model_dir):
    run_dir = tmp_path / "runs (copy)" / "exp a,b [x]"
    plan = eval_only_plan(run_dir, ["batch_size=1"])
    (stage,) = plan.stages
    assert stage.config["out_dir"] == str(run_dir / "eval" / "output")
    assert (stage.config["batch_size"], stage.config["limit"], stage.config["model"]) == (1, 2, str(tiny_model_dir))
    rows = execute_plan(plan, LocalExecutor())
    assert rows[0]["stage"] == "eval" and rows[0]["status"] == "ran"
    written = yaml.safe_load((run_dir / "eval" / "config.yaml").read_text())
    assert written == stage.config  # the job read exactly this file
    report = json.loads((run_dir / "eval" / "output" / "report.json").read_text())
    assert report["config"]["out_dir"] == str(run_dir / "eval" / "output")
    assert report["recipe_hash"] == stage.fingerprint[:16]
    assert [d["n"] for d in report["datasets"]] == [2]


def test_eval_limits_per_dataset_reach_the_config(tmp_path, tiny_model_dir):
    cfg = compose_recipe(["+experiment=smoke", f"pipeline.skip={TRAINING}", "+pipeline.eval.limits.bundled_ncbi=3",
                          "pipeline.eval.benchmark=bundled_ncbi", "pipeline.eval.max_new_tokens=4"])
    cfg["pipeline"]["run_dir"] = str(tmp_path)
    (stage,) = build_plan(cfg).stages
    assert stage.config["limits"] == {"bundled_ncbi": 3}
    execute_plan(build_plan(cfg), LocalExecutor())
    report = json.loads((tmp_path / "eval" / "output" / "report.json").read_text())
    assert [d["n"] for d in report["datasets"]] == [3]


def test_a_limit_naming_a_dataset_outside_the_benchmark_stops_the_plan(tmp_path):
    """A SemEval limit (as the mini recipe has) with an NER-only benchmark: refused at planning, before any stage
    trains, not by the eval stage after them."""
    cfg = compose_recipe(["+experiment=smoke", "pipeline.eval.benchmark=smoke_ner",
                          "+pipeline.eval.limits.bundled_semeval=150"])
    cfg["pipeline"]["run_dir"] = str(tmp_path)
    with pytest.raises(ValueError, match=r"pipeline.eval.limits: 'bundled_semeval' is not a dataset of benchmark "
                                         r"'smoke_ner' \(its datasets: bundled_ncbi, "):
        build_plan(cfg)
    assert not any(tmp_path.iterdir())  # nothing written


def test_eval_overrides_are_checked_against_the_eval_config(tmp_path):
    with pytest.raises(ValueError, match=r"pipeline.eval.overrides:.*batchsize"):
        eval_only_plan(tmp_path, ["batchsize=1"])
    with pytest.raises(ValueError, match=r"'data_dir' is not key=value"):
        eval_only_plan(tmp_path, ["data_dir"])


def test_an_override_value_with_commas_and_brackets_stays_one_string(tmp_path):
    cfg = compose_recipe(["+experiment=smoke", f"pipeline.skip={TRAINING}"])
    cfg["pipeline"]["eval"]["overrides"] = ["data_dir=/data/IE (copy)/a,b [v2]"]
    cfg["pipeline"]["run_dir"] = str(tmp_path)
    (stage,) = build_plan(cfg).stages
    assert stage.config["data_dir"] == "/data/IE (copy)/a,b [v2]"
