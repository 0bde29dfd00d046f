"""Config validation before anything runs: LLaMA-Factory's get_train_args, EasyR1's and verl's own config and
reward loaders (in their environments), batch rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from launch.compose import compose_recipe
from launch.driver import validate_plan
from launch.engines import easyr1
from launch.plan import build_plan
from launch.stage import StageFailed

REPO = Path(__file__).resolve().parents[2]


def plan_4b(tmp_path: Path, *overrides: str):
    return build_plan(compose_recipe(["+experiment=prouie_4b", f"pipeline.run_dir={tmp_path}", *overrides]))


@pytest.mark.parametrize("engine", ["easyr1", "verl"])
def test_prouie_4b_dry_run_validates_every_stage(tmp_path, engine_envs, engine):
    assert engine_envs[engine].is_file()
    plan = plan_4b(tmp_path, f"grpo={engine}")
    notes = validate_plan(plan, dry_run=True)
    assert set(notes) == {s.name for s in plan.stages}
    for name in ("cm_ner", "cm_ner_re", "cm_all", "sa"):
        assert any(n.startswith("deepspeed: file checked as JSON") for n in notes[name])
    for name in ("de_ner", "de_re", "de_ee"):
        assert any(n.startswith(f"checked by {engine} itself: config:") and "reward:" in n for n in notes[name])
    assert not any(p.exists() for p in tmp_path.iterdir()), "validation must not write into the run folder"


def test_without_the_engine_environment_validation_says_what_it_did_not_check(tmp_path):
    plan = plan_4b(tmp_path, f"grpo.python={tmp_path / 'no-env' / 'bin' / 'python'}")
    notes = validate_plan(plan, dry_run=True)
    assert notes["de_ner"][:1] == [f"NOT checked by easyr1 (config, reward, data): the easyr1 environment is missing "
                               f"({tmp_path / 'no-env' / 'bin' / 'python'} does not exist): create it with "
                               f"`make engine ENGINE=easyr1` (scripts/setup_engine.sh easyr1), or point grpo.python "
                               f"at its interpreter"]


def test_prouie_4b_sft_configs_are_complete_llamafactory_configs(tmp_path):
    from llamafactory.hparams import get_train_args

    for stage in plan_4b(tmp_path).stages[:4]:
        config = dict(stage.config)
        assert config["finetuning_type"] == "full" and config["template"] == "qwen3_nothink"
        assert Path(config["deepspeed"]).is_file() and config["bf16"] is True
        # exactly what validate() checks on a CPU machine: bf16 and deepspeed out, use_cpu in
        config.pop("deepspeed"), config.pop("bf16")
        _, data_args, training_args, finetuning_args, _ = get_train_args({**config, "use_cpu": True,
                                                                            "output_dir": str(tmp_path / "v")})
        assert data_args.dataset == [stage.name]
        assert training_args.num_train_epochs == stage.epochs
        assert finetuning_args.finetuning_type == "full"


def test_prouie_4b_easyr1_configs(tmp_path):
    for stage in plan_4b(tmp_path).stages[4:7]:
        conf = stage.config
        assert easyr1.batch_problems(conf, stage.samples) == []
        assert stage.python == str(REPO / ".engines" / "easyr1" / "bin" / "python") != sys.executable
        assert easyr1.EasyR1GRPO().jobs(stage)[0].argv[0] == stage.python
        assert conf["data"]["val_files"] == str(stage.data_dir / "val.jsonl")
        assert conf["worker"]["rollout"]["n"] == stage.rollout_n
        assert conf["trainer"]["n_gpus_per_node"] == 8 and conf["trainer"]["total_epochs"] == stage.epochs
        assert conf["worker"]["reward"]["reward_function"].endswith("rewards/easyr1.py:compute_score")
        assert Path(conf["worker"]["reward"]["reward_function"].split(":")[0]).is_absolute()
        assert conf["worker"]["reward"]["reward_function_kwargs"]["variant"] == "sfr"
        assert conf["trainer"]["save_checkpoint_path"] == str(stage.stage_dir / "checkpoints")
        assert conf["data"]["train_files"] == str(stage.data_dir / "train.jsonl")
        assert conf["data"]["override_chat_template"].startswith(str(stage.stage_dir))


def test_experiment_names_are_unique_per_de_stage(tmp_path):
    names = [s.config["trainer"]["experiment_name"] for s in plan_4b(tmp_path).stages[4:7]]
    assert len(set(names)) == 3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+stages.sa.args.learning_rat=1e-5", r"stage 'sa' failed .*sa/config.yaml.*learning_rat"),  # LLaMA-Factory
        ("+grpo.config.data.answer_col=answer",  # EasyR1's own PPOConfig, in its environment
         r"stage 'de_ner'.*EasyR1 rejects the config: ConfigKeyError: Key 'answer_col' not in 'DataConfig'"),
        ("grpo=verl +grpo.config.data.answer_key=answer",  # verl's own ppo_trainer tree, in its environment
         r"stage 'de_ner'.*verl rejects the config: ConfigKeyError: Key 'answer_key' is not in struct"),
        ("grpo.config.data.rollout_batch_size=500", r"rollout_batch_size 500 % worker.actor.global_batch_size 128"),
    ],
)
def test_bad_settings_are_rejected_before_anything_runs(tmp_path, engine_envs, override, message):
    assert engine_envs["verl" if "grpo=verl" in override else "easyr1"].is_file()
    with pytest.raises(StageFailed, match=message):
        validate_plan(plan_4b(tmp_path, *override.split()), dry_run=True)


def test_an_unknown_chat_template_is_a_config_error_when_planning(tmp_path):
    with pytest.raises(ValueError, match=r"unknown chat template 'qwen9': model.template must be one of LLaMA-Factory"):
        plan_4b(tmp_path, "model.template=qwen9")


def test_easyr1_tensor_parallel_is_capped_by_the_gpus(tmp_path):
    plan = plan_4b(tmp_path, "cluster.gpus_per_node=1", "grpo.config.data.rollout_batch_size=128")
    conf = plan.stages[4].config
    assert conf["worker"]["rollout"]["tensor_parallel_size"] == 1
    assert easyr1.batch_problems(conf, 80000) == []


def test_missing_source_data_names_stage_file_and_fix(tmp_path):
    plan = plan_4b(tmp_path, f"data.root={tmp_path / 'nowhere'}")
    with pytest.raises(StageFailed) as err:
        validate_plan(plan, dry_run=False)
    message = str(err.value)
    assert "stage 'cm_ner'" in message
    assert f"{tmp_path / 'nowhere'} does not exist" in message and "ACE 2005" in message
    assert "Fix: point data.root" in message


def test_missing_base_model_names_the_folder_and_fix(tmp_path):
    plan = build_plan(compose_recipe(["+experiment=smoke", f"pipeline.run_dir={tmp_path}",
                                      f"model.name_or_path={tmp_path / 'no-model'}"]))
    with pytest.raises(StageFailed, match=r"stage 'cm_ner' failed \(see .*no-model\).*model.name_or_path="):
        validate_plan(plan, dry_run=False)


def test_smoke_trl_configs_build_a_real_grpo_config(tmp_path):
    from trl import GRPOConfig

    plan = build_plan(compose_recipe(["+experiment=smoke", f"pipeline.run_dir={tmp_path}"]))
    for stage in plan.stages[4:7]:
        args = GRPOConfig(**stage.config["trainer"])
        assert args.num_generations == stage.rollout_n
        assert args.generation_batch_size % args.num_generations == 0


@pytest.mark.parametrize(("experiment", "limits", "grpo"), [
    ("mini", {"bundled_semeval": 150}, (2e-6, "linear")),
    ("repro_small", {"bundled_semeval": 150, "bundled_phee": 100}, (1e-5, "constant")),
])
def test_mini_recipes_are_accepted_by_llamafactory_and_trl_as_planned(tmp_path, tiny_model_dir, experiment, limits,
                                                                       grpo):
    """The README's main recipe and repro_small through the engines' own parsers (SmolLM2 swapped for the cached
    tiny model, so nothing is fetched: the parsers read the settings, not the weights)."""
    from llamafactory.hparams import get_train_args
    from trl import GRPOConfig

    from launch.compose import cpu_bf16

    plan = build_plan(compose_recipe([f"+experiment={experiment}", f"pipeline.run_dir={tmp_path}",
                                      f"model.name_or_path={tiny_model_dir}"]))
    notes = validate_plan(plan, dry_run=True)
    assert set(notes) == {s.name for s in plan.stages}
    for stage in plan.stages[:4]:
        _, data_args, training_args, _, _ = get_train_args({**stage.config, "output_dir": str(tmp_path / "v")})
        assert data_args.template == "smollm2" and data_args.cutoff_len == 512
        assert training_args.train_sampling_strategy == "group_by_length"
        assert (training_args.bf16, training_args.use_cpu) == (cpu_bf16(), True)
        assert training_args.num_train_epochs == stage.epochs
    for stage in plan.stages[4:7]:
        args = GRPOConfig(**stage.config["trainer"])
        assert (args.num_generations, args.max_completion_length) == (stage.rollout_n, 96)
        assert (args.learning_rate, args.lr_scheduler_type.value) == grpo
    evals = [s for s in plan.stages if s.name.startswith("eval")]
    assert [s.name for s in evals] == ["eval_cm_all", "eval_sa", "eval"]  # not the base model: see the recipe
    assert all(s.config["limits"] == limits for s in evals)


@pytest.mark.parametrize(("engine", "entry"), [("easyr1", "verl.trainer.main config="),
                                               ("verl", "verl.trainer.main_ppo --config-path=")])
def test_dry_run_cli_validates_and_writes_every_config(tmp_path, engine_envs, engine, entry):
    assert engine_envs[engine].is_file()
    result = subprocess.run([sys.executable, "launch/run_pipeline.py", "+experiment=prouie_4b", f"grpo={engine}",
                             "pipeline.dry_run=true", f"pipeline.run_dir={tmp_path}"],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stderr
    assert "GPU-hours" in out and "8 x H20" in out
    assert out.count("llamafactory-cli train") == 4 and out.count(entry) == 3
    assert "NPROC_PER_NODE=8" in out and "FORCE_TORCHRUN=1" in out
    assert out.count(f"checked by {engine} itself") == 3
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == [f"{s}/config.yaml" for s in ("cm_all", "cm_ner", "cm_ner_re", "de_ee", "de_ner", "de_re",
                                                    "eval", "sa")]
    de_ee = yaml.safe_load((tmp_path / "de_ee" / "config.yaml").read_text())
    assert (de_ee["worker"]["rollout"]["n"] if engine == "easyr1" else de_ee["actor_rollout_ref"]["rollout"]["n"]) == 8


def test_a_real_run_without_the_engine_environment_stops_before_the_first_stage(tmp_path):
    plan = build_plan(compose_recipe(["+experiment=smoke", "grpo=easyr1_smoke", "cluster.gpus_per_node=1",
                                      f"pipeline.run_dir={tmp_path}", f"grpo.python={tmp_path / 'none' / 'python'}"]))
    with pytest.raises(StageFailed, match=r"stage 'de_ner' failed .*easyr1 environment is missing.*make engine "
                                          r"ENGINE=easyr1"):
        validate_plan(plan, dry_run=False)
    assert not any(tmp_path.iterdir())
