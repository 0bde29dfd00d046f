"""The typed settings: every group the launcher reads (``launch.stage.RecipeSettings``) and every stage entry
(``launch.plan.SFTStageSpec`` / ``GRPOStageSpec``) is checked when the recipe is composed, an error naming the key's
path; every recipe of the tree composes, and the engines' own dicts take any key."""

from __future__ import annotations

from dataclasses import is_dataclass
from pathlib import Path
from typing import get_type_hints

import pytest
import yaml

from launch.compose import compose_recipe
from launch.plan import build_plan
from launch.stage import RecipeSettings, recipe_settings

REPO = Path(__file__).resolve().parents[2]
GROUPS = [name for name, schema in get_type_hints(RecipeSettings).items() if is_dataclass(schema)]


def _same(typed: object, value: object, path: str) -> None:
    """Every key ``value`` (a composed group) sets has its value, unchanged, on ``typed`` (its typed object)."""
    if is_dataclass(typed):
        for key, item in value.items():
            _same(getattr(typed, key), item, f"{path}.{key}")
    else:
        assert typed == value and type(typed) is type(value), path


def _typed_as_composed(cfg: dict, settings: RecipeSettings) -> None:
    for group in GROUPS:
        _same(getattr(settings, group), cfg[group], group)
    assert (settings.seed, settings.experiment_name, settings.format_profile) == \
        (cfg["seed"], cfg["experiment_name"], cfg["format_profile"])


@pytest.mark.parametrize("overrides", [
    ["+experiment=smoke"], ["+experiment=mini"], ["+experiment=repro_small"], ["+experiment=prouie_4b"],
    ["+experiment=smoke", "grpo=easyr1_smoke", "cluster.gpus_per_node=1"],
    ["+experiment=smoke", "grpo=verl_smoke", "cluster.gpus_per_node=1"],
    ["+experiment=smoke", "cluster=ray_local"],
    ["+experiment=prouie_4b", "grpo=verl", "cluster=ray", "cluster.address=http://head:8265", "cluster.nnodes=2"],
    ["+experiment=mini", "model=tiny", "data=ie_instructions", "sft.deepspeed=ds_z3.json"],
], ids=" ".join)
def test_every_recipe_composes_and_its_settings_are_read_as_written(overrides):
    cfg = compose_recipe(overrides)
    _typed_as_composed(cfg, recipe_settings(cfg))


@pytest.mark.parametrize(("study", "experiments"), [
    *((s, ("mini", "repro_small")) for s in ("table5", "table6", "table7", "data_scaling")),
    ("re_scaling", ("repro_tuned",)),  # zeroes the NER and EE of repro_tuned's SA mixture
])
def test_every_study_variant_composes(study, experiments):
    from launch.study import check_study

    spec = yaml.safe_load((REPO / "recipes" / "study" / f"{study}.yaml").read_text(encoding="utf-8"))
    check_study(spec)
    for variant in spec["variants"].values():
        for experiment in experiments:
            cfg = compose_recipe([f"+experiment={experiment}", *spec.get("common", []), *variant["overrides"]])
            _typed_as_composed(cfg, recipe_settings(cfg))


@pytest.mark.parametrize(("override", "message"), [
    ("+cluster.gpus_per_nod=1", r"^cluster\.gpus_per_nod: Key 'gpus_per_nod' not in 'ClusterSettings'; the cluster "
                                r"settings are launch\.stage\.ClusterSettings \(recipes/cluster/\)"),
    ("+sft.deepsped=ds_z3.json", r"^sft\.deepsped: Key 'deepsped' not in 'SFTSettings'"),
    ("+grpo.val_row=4", r"^grpo\.val_row: Key 'val_row' not in 'GRPOSettings'; the grpo settings are "
                        r"launch\.stage\.GRPOSettings \(recipes/grpo/\)"),
    ("+model.templat=qwen3", r"^model\.templat: Key 'templat' not in 'ModelSettings'"),
    ("+estimate.sft_tokens=3", r"^estimate\.sft_tokens: Key 'sft_tokens' not in 'EstimateSettings'"),
    ("+pipeline.evl.limit=3", r"^pipeline\.evl: Key 'evl' not in 'PipelineSettings'"),
    ("+stages.de_ner.rollouts=4", r"^stages\.de_ner: unknown key\(s\) \['rollouts'\]; a grpo stage has "),
])
def test_a_misspelt_key_of_a_typed_group_fails_at_composition_naming_its_path(override, message):
    with pytest.raises(ValueError, match=message):
        compose_recipe(["+experiment=smoke", override])


@pytest.mark.parametrize(("override", "message"), [
    ("cluster.gpus_per_node=two", r"^cluster\.gpus_per_node: Value 'two' of type 'str' could not be converted to "
                                  r"Integer"),
    ("cluster.poll_interval_s=often", r"^cluster\.poll_interval_s: Value 'often' of type 'str' could not be "
                                      r"converted to Float"),
    ("sft.args=5", r"^sft\.args: Cannot assign int to Dict\[str, Any\]"),
    ("grpo=easyr1_smoke grpo.val_rows=many", r"^grpo\.val_rows: Value 'many' of type 'str' could not be converted "
                                             r"to Integer"),
    ("model.template=[a,b]", r"^model\.template: Cannot convert 'ListConfig' to string"),
    ("seed=x", r"^seed: Value 'x' of type 'str' could not be converted to Integer; the run-wide settings are "
               r"launch\.stage\.RecipeSettings"),
    ("pipeline.dry_run=maybe", r"^pipeline\.dry_run: Value 'maybe' is not a valid bool"),
    ("stages.cm_ner.epochs=two", r"^stages\.cm_ner\.epochs: Value 'two' of type 'str' could not be converted to "
                                 r"Float; a sft stage is launch\.plan\.SFTStageSpec"),
    ("stages.de_ner.count=1.5", r"^stages\.de_ner\.count: Value '1.5' of type 'float' could not be converted to "
                                r"Integer"),
])
def test_a_value_of_the_wrong_type_fails_at_composition_naming_its_path(override, message):
    with pytest.raises(ValueError, match=message):
        compose_recipe(["+experiment=smoke", *override.split()])


@pytest.mark.parametrize(("override", "message"), [
    ("cluster.nnodes=0", r"^cluster\.nnodes: must be at least 1, got 0$"),
    ("cluster.gpus_per_node=-1", r"^cluster\.gpus_per_node: must be at least 0, got -1$"),
    ("cluster.cpus_per_node=0", r"^cluster\.cpus_per_node: must be at least 1, got 0$"),
    ("cluster.retries=-2", r"^cluster\.retries: must be at least 0, got -2$"),
    ("cluster.master_port=70000", r"^cluster\.master_port: must be between 1 and 65535, got 70000$"),
    ("cluster.master_port=0", r"^cluster\.master_port: must be between 1 and 65535, got 0$"),
    ("cluster.poll_interval_s=0", r"^cluster\.poll_interval_s: must be positive, got 0\.0$"),
    ("pipeline.eval.limit=0", r"^pipeline\.eval\.limit: must be at least 1, got 0$"),
    ("+pipeline.eval.limits={bundled_ncbi:0}", r"^pipeline\.eval\.limits\.bundled_ncbi: must be at least 1, got 0$"),
])
def test_a_value_out_of_its_range_fails_at_composition_naming_its_path(override, message):
    with pytest.raises(ValueError, match=message):
        compose_recipe(["+experiment=smoke", override])
    # the bounds themselves are accepted
    for ok in ("cluster.nnodes=1", "cluster.gpus_per_node=0", "cluster.master_port=65535", "pipeline.eval.limit=1"):
        compose_recipe(["+experiment=smoke", ok])


def test_an_unknown_top_level_key_fails_at_composition_naming_it():
    with pytest.raises(ValueError, match=r"^pipline: not a key of the recipe; its top-level keys are those of "
                                         r"launch\.stage\.RecipeSettings \(experiment_name, seed, .*\) and "
                                         r"reward \(rewards\.config\), .*study \(launch\.study\)$"):
        compose_recipe(["+experiment=smoke", "+pipline.skip=[sa]"])
    cfg = compose_recipe(["+experiment=smoke", "+study=table5"])  # the groups read by their own parsers pass
    assert {"reward", "data", "stages", "study"} <= set(cfg)


def test_an_experiment_file_is_checked_too(tmp_path):
    """Hydra merges an experiment file without struct checks: the schema is what refuses its misspelt keys."""
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "typo.yaml").write_text(
        "# @package _global_\ndefaults:\n  - smoke\n  - _self_\ncluster:\n  gpus_per_nod: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^cluster\.gpus_per_nod: Key 'gpus_per_nod' not in 'ClusterSettings'"):
        compose_recipe(["+experiment=typo", f"hydra.searchpath=[file://{tmp_path}]"])


def test_a_stage_the_run_skips_is_checked_at_composition_too():
    with pytest.raises(ValueError, match=r"^stages\.sa: unknown key\(s\) \['epoch'\]"):
        compose_recipe(["+experiment=smoke", "pipeline.skip=[sa]", "+stages.sa.epoch=3"])
    with pytest.raises(ValueError, match=r"^stages\.sa\.kind must be one of \('sft', 'grpo'\), got 'rl'$"):
        compose_recipe(["+experiment=smoke", "pipeline.skip=[sa]", "stages.sa.kind=rl"])


def test_a_group_that_is_not_a_mapping_is_named():
    cfg = compose_recipe(["+experiment=smoke"])
    with pytest.raises(ValueError, match=r"^cluster: Merge error: int is not a subclass of ClusterSettings"):
        recipe_settings({**cfg, "cluster": 8})
    with pytest.raises(ValueError, match=r"^pipeline\.eval: Merge error: int is not a subclass of EvalSettings"):
        recipe_settings({**cfg, "pipeline": {**cfg["pipeline"], "eval": 3}})


def test_the_engines_own_dicts_take_any_key_and_keep_their_values():
    cfg = compose_recipe(["+experiment=smoke", "grpo=verl_smoke", "+sft.args.any_llamafactory_key=1",
                          "+grpo.config.trainer.any_verl_key=x", "+grpo.data.any_builder_key=2",
                          "+grpo.args.any_trl_key=3", "+cluster.runtime_env.env_vars.NCCL_DEBUG=INFO",
                          "+stages.cm_ner.args.any_stage_key=4"])
    settings = recipe_settings(cfg)
    assert settings.sft.args["any_llamafactory_key"] == 1 and settings.grpo.data["any_builder_key"] == 2
    assert settings.grpo.config["trainer"]["any_verl_key"] == "x" and settings.grpo.args["any_trl_key"] == 3
    assert settings.cluster.runtime_env == {"env_vars": {"NCCL_DEBUG": "INFO"}}
    # a composed recipe is resolved: what looks like an interpolation in an engine's dict is passed on as written
    literal = {**cfg, "grpo": {**cfg["grpo"], "config": {"trainer": {"note": "${not.a.key}"}}}}
    assert recipe_settings(literal).grpo.config == {"trainer": {"note": "${not.a.key}"}}


def test_every_stage_reads_the_plans_typed_settings(tmp_path):
    plan = build_plan(compose_recipe(["+experiment=smoke", "seed=7", f"pipeline.run_dir={tmp_path}"]))
    assert all(stage.settings is plan.settings for stage in plan.stages)
    assert plan.settings.seed == 7 and plan.settings.cluster.kind == "local" and plan.settings.grpo.engine == "trl"
    assert plan.stages[0].config["seed"] == 7 and plan.stages[4].config["trainer"]["seed"] == 7
