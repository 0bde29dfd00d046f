"""Planning: stage order, model chaining, counts, ablation overrides, run folders, config errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from launch.compose import compose_recipe
from launch.plan import build_plan

REPO = Path(__file__).resolve().parents[2]
ALL = ["cm_ner", "cm_ner_re", "cm_all", "sa", "de_ner", "de_re", "de_ee"]


def plan_of(*overrides: str, run_dir: Path | None = None):
    extra = [f"pipeline.run_dir={run_dir}"] if run_dir else []
    return build_plan(compose_recipe([*overrides, *extra]))


def test_smoke_plan_runs_seven_training_stages_then_eval(tmp_path, tiny_model_dir):
    plan = plan_of("+experiment=smoke", run_dir=tmp_path)
    assert [s.name for s in plan.stages] == [*ALL, "eval"]
    assert [s.engine for s in plan.stages] == ["llamafactory"] * 4 + ["trl"] * 3 + ["eval"]
    assert plan.stages[0].input_model == str(tiny_model_dir)
    for before, after in zip(plan.stages, plan.stages[1:]):
        assert after.input_model == str(before.output_dir)
        assert after.input_stage == before.name
    assert all(s.stage_dir == tmp_path / s.name for s in plan.stages)


def test_smoke_plan_keeps_the_paper_shape(tmp_path):
    stages = {s.name: s for s in plan_of("+experiment=smoke", run_dir=tmp_path).stages}
    ner_re = stages["cm_ner_re"].data["mixture"]
    assert ner_re["ner"] * 8 == ner_re["re"] * 2
    three = stages["cm_all"].data["mixture"]
    assert three["ner"] * 4 == three["ee"] * 3 and three["ner"] == three["re"]
    assert stages["sa"].data["mixture"]["re"] == stages["sa"].data["mixture"]["ee"]
    assert stages["sa"].data["style"] == "sa" and stages["cm_all"].data["style"] == "cm"
    assert [stages[n].rollout_n for n in ("de_ner", "de_re", "de_ee")] == [4, 8, 8]
    assert [stages[n].config["trainer"]["num_generations"] for n in ("de_ner", "de_re", "de_ee")] == [4, 8, 8]
    assert stages["de_re"].data["task"] == "re" and stages["de_re"].data["style"] == "sa"


def test_prouie_4b_plan_counts_and_engines(tmp_path):
    plan = plan_of("+experiment=prouie_4b", run_dir=tmp_path)
    stages = {s.name: s for s in plan.stages}
    assert [s.engine for s in plan.stages] == ["llamafactory"] * 4 + ["easyr1"] * 3 + ["eval"]
    assert [stages[n].samples for n in ALL] == [845646, 224745, 24979, 18000, 80000, 50000, 9991]
    assert stages["de_ner"].config["worker"]["actor"]["model"]["model_path"] == str(stages["sa"].output_dir)
    assert len(stages["cm_ner"].data["sources"]["ner"]) == 18
    assert len(stages["cm_ner_re"].data["sources"]["re"]) == 8
    assert len(stages["cm_all"].data["sources"]["ee"]) == 3


@pytest.mark.parametrize(
    ("skip", "expected", "de_input"),
    [
        ("[sa]", ["cm_ner", "cm_ner_re", "cm_all", "de_ner", "de_re", "de_ee"], "cm_all"),  # w/o SA
        ("[de_ner,de_re,de_ee]", ["cm_ner", "cm_ner_re", "cm_all", "sa"], None),            # w/o DE
        ("[sa,de_ner,de_re,de_ee]", ["cm_ner", "cm_ner_re", "cm_all"], None),               # CM only
    ],
)
def test_ablation_overrides_change_the_plan(tmp_path, skip, expected, de_input):
    plan = plan_of("+experiment=prouie_4b", f"pipeline.skip={skip}", run_dir=tmp_path)
    names = [s.name for s in plan.stages]
    assert names == [*expected, "eval"]
    stages = {s.name: s for s in plan.stages}
    if de_input:
        assert stages["de_ner"].input_stage == de_input
    assert stages["eval"].input_model == str(stages[expected[-1]].output_dir)


def test_de_prompts_follow_the_style_the_model_was_last_trained_on(tmp_path):
    full = {s.name: s for s in plan_of("+experiment=prouie_4b", run_dir=tmp_path).stages}
    no_sa = {s.name: s for s in plan_of("+experiment=prouie_4b", "pipeline.skip=[sa]", run_dir=tmp_path).stages}
    assert [full[n].data["style"] for n in ("de_ner", "de_re", "de_ee")] == ["sa", "sa", "sa"]
    assert [no_sa[n].data["style"] for n in ("de_ner", "de_re", "de_ee")] == ["cm", "cm", "cm"]
    assert full["eval"].config["style"] == "sa" and no_sa["eval"].config["style"] == "cm"


def test_ablations_get_their_own_run_folder():
    full = plan_of("+experiment=prouie_4b")
    no_sa = plan_of("+experiment=prouie_4b", "pipeline.skip=[sa]")
    coarse = plan_of("+experiment=prouie_4b", "reward.variant=coarse_only")
    assert full.run_dir.name == "prouie_4b"
    assert no_sa.run_dir.name == "prouie_4b+skip-sa"
    assert coarse.run_dir.name == "prouie_4b+reward-coarse_only"


def test_reward_variant_reaches_the_de_configs_and_changes_only_de_fingerprints(tmp_path):
    full = {s.name: s for s in plan_of("+experiment=smoke", run_dir=tmp_path).stages}
    fine = {s.name: s for s in plan_of("+experiment=smoke", "reward.variant=fine_only", run_dir=tmp_path).stages}
    assert fine["de_ner"].config["reward"]["variant"] == "fine_only"
    assert all(full[n].fingerprint == fine[n].fingerprint for n in ("cm_ner", "cm_ner_re", "cm_all", "sa"))
    assert all(full[n].fingerprint != fine[n].fingerprint for n in ("de_ner", "de_re", "de_ee", "eval"))


def test_a_changed_stage_changes_its_fingerprint_and_every_later_one(tmp_path):
    base = plan_of("+experiment=smoke", run_dir=tmp_path).stages
    changed = plan_of("+experiment=smoke", "+stages.cm_ner_re.args.learning_rate=5e-4", run_dir=tmp_path).stages
    same = [a.fingerprint == b.fingerprint for a, b in zip(base, changed)]
    assert same == [True] + [False] * (len(base) - 1)


def test_fingerprints_do_not_depend_on_where_the_run_folder_is(tmp_path):
    one = plan_of("+experiment=smoke", run_dir=tmp_path / "a").stages
    two = plan_of("+experiment=smoke", run_dir=tmp_path / "b").stages
    assert [s.fingerprint for s in one] == [s.fingerprint for s in two]


def test_unknown_stage_in_skip_is_a_config_error():
    with pytest.raises(ValueError, match=r"pipeline.skip names unknown stage\(s\) \['cm_foo'\]"):
        plan_of("+experiment=smoke", "pipeline.skip=[cm_foo]")


def test_unknown_key_in_a_stage_names_the_key_and_where_backend_settings_go():
    with pytest.raises(ValueError, match=r"stages.cm_ner: unknown key\(s\) \['epoch'\].*stages.cm_ner.args"):
        plan_of("+experiment=smoke", "+stages.cm_ner.epoch=3")


def test_overriding_a_key_that_does_not_exist_fails_in_composition():
    with pytest.raises(ConfigCompositionException, match="pipeline.dryrun"):
        compose_recipe(["+experiment=smoke", "pipeline.dryrun=true"])


def test_no_experiment_means_missing_values_named():
    with pytest.raises(ValueError, match=r"no value for .*stages.cm_ner.epochs.*\+experiment=smoke"):
        compose_recipe([])


def test_cli_unknown_key_message_names_key_and_the_plus_fix():
    result = subprocess.run([sys.executable, "launch/run_pipeline.py", "+experiment=smoke", "pipeline.dryrun=true"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Could not override 'pipeline.dryrun'" in result.stderr
    assert "+pipeline.dryrun=true" in result.stderr
