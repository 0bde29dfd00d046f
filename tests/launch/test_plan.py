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


def test_smoke_plan_runs_seven_training_stages_then_evaluates_four_models(tmp_path, tiny_model_dir):
    plan = plan_of("+experiment=smoke", run_dir=tmp_path)
    assert [s.name for s in plan.stages] == [*ALL, "eval_base", "eval_cm_all", "eval_sa", "eval"]
    assert [s.engine for s in plan.stages] == ["llamafactory"] * 4 + ["trl"] * 3 + ["eval"] * 4
    assert plan.stages[0].input_model == str(tiny_model_dir)
    training = plan.stages[:7]
    for before, after in zip(training, training[1:]):
        assert after.input_model == str(before.output_dir)
        assert after.input_stage == before.name
    evals = {s.name: s for s in plan.stages[7:]}
    assert evals["eval_base"].input_model == str(tiny_model_dir) and evals["eval_base"].input_stage is None
    for name, stage in (("eval_cm_all", "cm_all"), ("eval_sa", "sa"), ("eval", "de_ee")):
        assert evals[name].input_model == str(tmp_path / stage / "output") and evals[name].input_stage == stage
    assert all(s.stage_dir == tmp_path / s.name for s in plan.stages)


@pytest.mark.parametrize(("overrides", "expected"), [
    ([], [("eval", "de_ee")]),
    (["pipeline.eval.models=[base,cm_all,sa,final]", "pipeline.skip=[sa,de_ner,de_re,de_ee]"],
     [("eval_base", "base"), ("eval", "cm_all")]),           # CM only: cm_all is the final model, evaluated once
    (["pipeline.eval.models=[base,sa]", "pipeline.skip=[sa]"], [("eval_base", "base")]),  # a skipped stage: none
    (["pipeline.eval.models=[cm_ner,final]"], [("eval_cm_ner", "cm_ner"), ("eval", "de_ee")]),
])
def test_eval_models_follow_the_stages_a_run_keeps(tmp_path, overrides, expected):
    plan = plan_of("+experiment=smoke", "pipeline.eval.models=[final]", *overrides, run_dir=tmp_path)
    assert [(s.name, s.spec["evaluates"]) for s in plan.stages if s.kind == "eval"] == expected


def test_an_evaluated_model_that_is_not_a_stage_is_a_config_error(tmp_path):
    with pytest.raises(ValueError, match=r"pipeline.eval.models names \['cm_al'\]; choose from base, final"):
        plan_of("+experiment=smoke", "pipeline.eval.models=[cm_al]", run_dir=tmp_path)


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
    assert all(full[n].fingerprint == fine[n].fingerprint for n in ("eval_base", "eval_cm_all", "eval_sa"))


def test_a_changed_stage_changes_its_fingerprint_and_every_later_one(tmp_path):
    base = plan_of("+experiment=smoke", run_dir=tmp_path).stages
    changed = plan_of("+experiment=smoke", "+stages.cm_ner_re.args.learning_rate=5e-4", run_dir=tmp_path).stages
    changed_names = [a.name for a, b in zip(base, changed) if a.fingerprint != b.fingerprint]
    # the base model's evaluation does not depend on any stage
    assert changed_names == [s.name for s in base if s.name not in ("cm_ner", "eval_base")]


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


def test_pipeline_settings_outside_their_schema_are_named_by_path():
    """Keys an experiment file or a ``+`` override adds under ``pipeline`` pass Hydra's struct check; the schema
    (launch.stage.PipelineSettings) refuses them, and values of the wrong type, when the recipe is composed."""
    with pytest.raises(ValueError, match=r"^pipeline\.eval\.limt: Key 'limt' not in 'EvalSettings'"):
        compose_recipe(["+experiment=smoke", "+pipeline.eval.limt=3"])
    with pytest.raises(ValueError, match=r"^pipeline\.keep_checkpoints: Value 'sometimes' is not a valid bool"):
        compose_recipe(["+experiment=smoke", "pipeline.keep_checkpoints=sometimes"])
    assert compose_recipe(["+experiment=mini"])["pipeline"]["eval"]["limits"] == {"bundled_semeval": 150}


def test_no_experiment_means_missing_values_named():
    with pytest.raises(ValueError, match=r"no value for .*stages.cm_ner.epochs.*\+experiment=smoke"):
        compose_recipe([])


def test_cli_unknown_key_message_names_key_and_the_plus_fix():
    result = subprocess.run([sys.executable, "launch/run_pipeline.py", "+experiment=smoke", "pipeline.dryrun=true"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Could not override 'pipeline.dryrun'" in result.stderr
    assert "+pipeline.dryrun=true" in result.stderr


# --------------------------------------------------------------------------- run-wide facts, resolved once


@pytest.mark.parametrize("profile", ["default", "paper"])
@pytest.mark.parametrize("grpo", ["trl", "easyr1"])
def test_one_output_profile_reaches_data_rewards_and_eval(tmp_path, profile, grpo):
    from rewards.config import RECIPE_PATH, load_sfr_config, sfr_config

    plan = plan_of("+experiment=smoke", f"format_profile={profile}", f"grpo={grpo}", run_dir=tmp_path)
    want_reward = load_sfr_config(RECIPE_PATH, profile=profile)
    for stage in plan.stages:
        assert stage.profile == profile, stage.name
        if stage.data is not None:
            assert stage.data["profile"] == profile, stage.name
        if stage.kind == "grpo":
            kwargs = (stage.config["reward"] if grpo == "trl"
                      else stage.config["worker"]["reward"]["reward_function_kwargs"])
            assert sfr_config(kwargs) == want_reward, stage.name  # the whole config, profile included
    assert plan.stages[-1].config["profile"] == profile  # eval parses with it too


def test_reward_keys_are_checked_when_planning():
    with pytest.raises(ValueError, match=r"'ner.w_x': unknown"):
        plan_of("+experiment=smoke", "+reward.ner.w_x=1.0")


def test_threads_are_resolved_once_and_every_stage_job_gets_them(tmp_path, monkeypatch):
    import os

    from launch.engines.environment import THREAD_VARIABLES
    from launch.plan import backend

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})  # as under `taskset -c 0,3,5`
    auto = plan_of("+experiment=smoke", run_dir=tmp_path)
    fixed = plan_of("+experiment=smoke", "pipeline.threads=2", run_dir=tmp_path)
    for stages, want in ((auto.stages, 3), (fixed.stages, 2)):
        for stage in stages:
            assert stage.threads == want
            for job in backend(stage.engine).jobs(stage):
                assert {v: job.env[v] for v in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, str(want))
    # the thread count is recorded in DONE, not fingerprinted: a rerun on a machine with other cores stays cached
    assert [s.fingerprint for s in auto.stages] == [s.fingerprint for s in fixed.stages]
    for bad in ("0", "-1", "many"):
        with pytest.raises(ValueError, match="pipeline.threads"):
            plan_of("+experiment=smoke", f"pipeline.threads={bad}", run_dir=tmp_path)


# ------------------------------------------------------------------------------- which code a stage uses


def _copy_code(tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "code"
    for package in ("converters", "rewards", "eval"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_stage_reruns_when_code_it_uses_changes_and_only_then(tmp_path, monkeypatch):
    import launch.plan

    root = _copy_code(tmp_path)
    monkeypatch.setattr(launch.plan, "REPO_ROOT", root)

    def fingerprints() -> dict[str, str]:
        return {s.name: s.fingerprint for s in plan_of("+experiment=smoke", run_dir=tmp_path / "run").stages}

    def edit(name: str) -> None:
        (root / name).write_text((root / name).read_text() + "\n# edited\n")

    def changed(old: dict[str, str]) -> list[str]:
        new = fingerprints()
        return [n for n in old if new[n] != old[n]]

    before = fingerprints()
    edit("converters/roundtrip.py")
    edit("eval/infer.py")
    assert changed(before) == []  # no stage imports these
    edit("converters/lengths.py")  # Table 6 lengths: eval reports them, no data build uses them
    assert changed(before) == ["eval_base", "eval_cm_all", "eval_sa", "eval"]
    before = fingerprints()
    edit("rewards/sfr.py")
    assert changed(before) == ["de_ner", "de_re", "de_ee", "eval"]  # the final eval follows the model it is given
    after_reward = fingerprints()
    render = root / "converters" / "format" / "render.py"
    render.write_text(render.read_text() + "\n# x\n")
    assert all(v != after_reward[k] for k, v in fingerprints().items())  # every stage renders with it


def test_code_closure_follows_imports_including_lazy_and_relative_ones(tmp_path):
    from launch.code_stamp import code_stamp, module_closure

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {"__init__.py": "", "a.py": "import pkg.b\n\ndef f():\n    from pkg.sub import c\n",
             "b.py": "from .sub.d import X\n", "sub/__init__.py": "", "sub/c.py": "", "sub/d.py": "X = 1\n",
             "e.py": "import os\n"}
    for name, text in files.items():
        (pkg / name).write_text(text)
    closure = {str(p.relative_to(tmp_path)) for p in module_closure(["pkg.a"], tmp_path)}
    assert closure == {"pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/sub/__init__.py", "pkg/sub/c.py",
                       "pkg/sub/d.py"}
    stamp = code_stamp(["pkg.a"], tmp_path)
    (pkg / "e.py").write_text("import sys\n")
    assert code_stamp(["pkg.a"], tmp_path) == stamp
    (pkg / "sub" / "d.py").write_text("X = 2\n")
    assert code_stamp(["pkg.a"], tmp_path) != stamp


def test_the_data_build_closure_of_the_real_code():
    from launch.code_stamp import module_closure

    files = {str(p.relative_to(REPO)) for p in module_closure(["converters.stages"], REPO)}
    assert {"converters/stages.py", "converters/format/__init__.py", "converters/format/profiles.py",
            "converters/format/render.py", "converters/format/parse.py", "converters/records.py",
            "converters/readers/ie_instructions.py"} <= files
    assert not files & {"converters/roundtrip.py", "converters/lengths.py", "converters/chat.py"}
    assert not any(f.startswith(("rewards/", "eval/", "launch/")) for f in files)


# ------------------------------------------------------------------------------------- the planner's parts


def test_an_unknown_engine_is_named_with_the_known_ones():
    from launch.plan import backend

    with pytest.raises(ValueError, match=r"^unknown engine 'nope'; expected one of \['easyr1', .*'trl'.*\]$"):
        backend("nope")
    with pytest.raises(ValueError, match=r"^stages.cm_ner.kind must be one of \('sft', 'grpo'\), got 'rl'$"):
        plan_of("+experiment=smoke", "stages.cm_ner.kind=rl")


def _settings(**pipeline):
    from launch.stage import PipelineSettings, RecipeSettings

    return RecipeSettings(experiment_name="x", pipeline=PipelineSettings(**pipeline))


def test_ablation_tags_name_every_skipped_stage_and_the_reward_variant():
    from launch.plan import ablation_tag

    assert ablation_tag(_settings(skip=[])) == ""  # no reward group: the full SFR
    assert ablation_tag(_settings(skip=[]), {"variant": "sfr"}) == ""
    assert ablation_tag(_settings(skip=["sa", "de_ner"]), {}) == "+skip-sa-de_ner"
    assert ablation_tag(_settings(skip=["sa"]), {"variant": "fine_only"}) == "+skip-sa+reward-fine_only"


def test_the_default_run_folder_is_under_runs_of_the_working_directory(tmp_path, monkeypatch):
    from launch.plan import resolve_run_dir

    monkeypatch.chdir(tmp_path)
    assert resolve_run_dir(_settings(run_dir=None, skip=["sa"])) == tmp_path / "runs" / "x+skip-sa"
    assert resolve_run_dir(_settings(skip=[]), {"variant": "coarse_only"}) == tmp_path / "runs" / "x+reward-coarse_only"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_run_dir(_settings(run_dir="~/r", skip=[])) == tmp_path / "home" / "r"


def test_a_source_group_with_datasets_expands_to_one_spec_each():
    from launch.plan import expand_sources

    got = expand_sources({"ner": {"format": "ie_instructions", "path": "/d", "datasets": ["a", "b"]},
                          "re": [{"bundled": "semeval"}]})
    assert got == {"ner": [{"format": "ie_instructions", "path": "/d", "dataset": "a"},
                           {"format": "ie_instructions", "path": "/d", "dataset": "b"}],
                   "re": [{"bundled": "semeval"}]}


def test_threads_auto_without_affinity_counts_the_cpus(monkeypatch):
    import os

    from launch.plan import resolve_threads

    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert resolve_threads("auto") == resolve_threads(None) == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert resolve_threads("auto") == 1
    assert resolve_threads(3) == 3
    for bad in (True, 0, 2.0, "4"):
        with pytest.raises(ValueError, match=rf"^pipeline.threads must be 'auto' or a positive integer, got {bad!r}$"):
            resolve_threads(bad)


def test_a_model_path_is_absolute_and_tiny_is_the_embedded_model(tmp_path, monkeypatch, tiny_model_dir):
    from launch.plan import resolve_model

    monkeypatch.chdir(tmp_path)
    assert resolve_model("models/m") == str(tmp_path / "models" / "m")
    assert resolve_model("tiny") == str(tiny_model_dir)


def test_unreadable_sources_are_listed_and_the_error_says_how_to_fix_it(tmp_path):
    from launch.plan import missing_data_error

    cfg = compose_recipe(["+experiment=smoke", f"pipeline.run_dir={tmp_path}"])
    absent = {"format": "canonical", "path": str(tmp_path / "absent.jsonl")}
    cfg["data"]["sources"]["re"] = [absent]
    stages = {s.name: s for s in build_plan(cfg).stages}
    assert stages["cm_ner"].missing_sources == []
    want = [f"re: {absent}: source 'canonical': {tmp_path / 'absent.jsonl'} does not exist"]
    assert stages["cm_ner_re"].missing_sources == want and stages["de_re"].missing_sources == want
    err = missing_data_error(stages["cm_ner_re"])
    assert err.stage == "cm_ner_re"
    assert str(err).endswith(f"source data missing: {want[0]}. Fix: point data.root (or the IE_INSTRUCTIONS "
                             "environment variable) at your download, or remove the dataset from data.sources")


def test_no_reward_config_without_a_grpo_stage_and_no_eval_stage_when_disabled(tmp_path):
    no_de = plan_of("+experiment=smoke", "pipeline.skip=[de_ner,de_re,de_ee]", "+reward.ner.w_x=1.0",
                    run_dir=tmp_path)  # the bad reward key is never read
    assert all(s.reward is None for s in no_de.stages)
    assert [s.name for s in plan_of("+experiment=smoke", "pipeline.eval.enabled=false", run_dir=tmp_path).stages] \
        == ALL
    assert [s.name for s in plan_of("+experiment=smoke", "pipeline.skip=[eval]", run_dir=tmp_path).stages] == ALL
    full = plan_of("+experiment=smoke", run_dir=tmp_path)
    assert [s.reward is not None for s in full.stages] == [s.kind == "grpo" for s in full.stages]
    assert [s.kind for s in full.stages][4:7] == ["grpo"] * 3
    assert full.stages[4].reward == {**full.cfg["reward"], "profile": "default"}


def test_stages_carry_their_counts_epochs_and_data_request(tmp_path):
    plan = plan_of("+experiment=smoke", "seed=7", run_dir=tmp_path)
    stages = {s.name: s for s in plan.stages}
    cm, de = stages["cm_ner_re"], stages["de_re"]
    assert (cm.kind, cm.samples, cm.epochs, cm.rollout_n) == ("sft", 40, 15, None)
    assert cm.data == {"builder": "sft", "name": "cm_ner_re", "mixture": {"ner": 8, "re": 32}, "style": "cm",
                       "sources": {t: plan.cfg["data"]["sources"][t] for t in ("ner", "re")}, "profile": "default",
                       "seed": 7}
    assert (de.kind, de.samples, de.epochs, de.rollout_n) == ("grpo", 4, 1, 8)
    assert de.data == {"builder": "grpo", "name": "de_re", "task": "re", "count": 4, "style": "sa",
                       "sources": {"re": plan.cfg["data"]["sources"]["re"]}, "profile": "default", "seed": 7}
    assert stages["eval"].samples == 0 and stages["eval"].data is None
    assert stages["eval"].spec == {"style": "sa", "evaluates": "de_ee"}
    assert (stages["eval"].kind, stages["eval"].engine) == ("eval", "eval")
    assert plan.cfg["seed"] == 7 and plan.run_dir == tmp_path


def test_the_first_stage_of_an_ablation_without_earlier_stages_starts_from_the_base_model(tmp_path, tiny_model_dir):
    plan = plan_of("+experiment=smoke", "pipeline.order=[de_ner]", "pipeline.eval.models=[final]", run_dir=tmp_path)
    (de, ev) = plan.stages
    assert (de.input_model, de.input_stage, de.data["style"]) == (str(tiny_model_dir), None, "cm")
    assert ev.input_stage == "de_ner" and ev.spec["style"] == "cm"
    only_eval = plan_of("+experiment=smoke", "pipeline.order=[]", "pipeline.eval.models=[final]",
                        run_dir=tmp_path).stages
    assert [(s.name, s.input_model, s.input_stage, s.spec["style"]) for s in only_eval] == [
        ("eval", str(tiny_model_dir), None, "cm")]


def test_settings_a_user_recipe_may_leave_out(tmp_path, monkeypatch):
    import os

    from launch.plan import resolve_threads

    cfg = compose_recipe(["+experiment=smoke", f"pipeline.run_dir={tmp_path}", "+stages.de_ner.style=cm"])
    del cfg["stages"]["cm_ner"]["style"], cfg["pipeline"]["threads"]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    stages = {s.name: s for s in build_plan(cfg).stages}
    assert stages["cm_ner"].data["style"] == "cm"  # an SFT stage without a style: complete targets
    assert stages["sa"].data["style"] == "sa" and stages["de_ner"].data["style"] == "cm"  # its own style
    assert stages["de_re"].data["style"] == "cm"  # none of its own: the previous stage's
    assert all(s.threads == 3 for s in stages.values()) and resolve_threads(1) == 1


def test_a_bad_reward_key_names_where_the_config_came_from():
    with pytest.raises(ValueError, match=r"^recipe 'reward' group \+ format_profile: key 'ner.w_x': unknown"):
        plan_of("+experiment=smoke", "+reward.ner.w_x=1.0")


def test_every_missing_source_is_listed(tmp_path):
    from launch.plan import missing_data_error

    cfg = compose_recipe(["+experiment=smoke", f"pipeline.run_dir={tmp_path}"])
    cfg["data"]["sources"]["ner"] = [{"format": "canonical", "path": str(tmp_path / n)} for n in ("a.jsonl", "b.jsonl")]
    stage = build_plan(cfg).stages[0]
    assert len(stage.missing_sources) == 2
    assert f"source data missing: {stage.missing_sources[0]}; {stage.missing_sources[1]}. Fix:" in str(
        missing_data_error(stage))
