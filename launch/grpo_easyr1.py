"""GRPO stages with EasyR1 (the paper's DE engine, GPU clusters): render, check, run, merge to Hugging Face.

The stage config is EasyR1's own YAML (sections data / algorithm / worker / trainer), run as
``<EasyR1 env>/bin/python -m verl.trainer.main config=<stage>/config.yaml`` in EasyR1's own environment
(``scripts/setup_engine.sh easyr1``; EasyR1 installs a module named ``verl``, which the driver never imports).
Pitfalls handled (notes: upstream-easyr1-verl §0-1):

- every path is absolute (EasyR1 resolves relative paths against its working directory, and a missing file is
  only a printed warning: the check makes it an error);
- EasyR1 always builds a validation set and validates after training: ``data.val_files`` is the first
  ``grpo.val_rows`` prompts of the stage's own data (``val.jsonl``; not held out, an end-of-stage reward);
- the reward is ``rewards/easyr1.py:compute_score`` with the recipe's ``reward`` group as its kwargs;
- each stage has its own ``save_checkpoint_path``, so a new stage never auto-resumes the previous one;
  ``find_last_checkpoint`` stays on and only ever resumes an interrupted attempt of the same stage;
- EasyR1 empties ``experiment_log.jsonl`` when it starts: each attempt's log is kept aside first, and the
  stage's results cover the steps of every attempt;
- the prompt is wrapped by ``data.override_chat_template`` = ``converters.chat.easyr1_chat_template``, the same
  bytes as SFT and eval (checked on the stage's data through EasyR1's own dataset);
- after training, EasyR1's ``scripts/model_merger.py`` (kept in the environment by the set-up) turns the last
  checkpoint into a Hugging Face model, copied into the stage's output folder with ``generation_config.json``
  checked to still stop at the base model's EOS ids.

Checks by EasyR1's own code (``launch.easyr1_check``, run in EasyR1's environment): before anything runs, the
rendered config through ``PPOConfig`` and the reward file through ``AutoRewardManager`` (scores equal to a direct
call); when the stage starts, its data through ``create_dataloader`` (train and validation). Without the
environment, validation says what it could not check. The batch rules EasyR1 only enforces once it has GPUs are
evaluated here too.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from launch.backend_env import REPO_ROOT, backend_env, cluster_shape
from launch.engine_env import missing_env_hint, run_check
from launch.executor import StageFailed, StageJob
from launch.plan import StagePlan
from launch.reward_probe import write_probe

REWARD_FILE = REPO_ROOT / "rewards" / "easyr1.py"
CHECK_MODULE = "launch.easyr1_check"
MERGER = "share/easyr1/scripts/model_merger.py"  # inside the environment (scripts/setup_engine.sh)


def merge_config(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` merged into ``base`` key by key (mappings recursively); ``base`` is changed and returned."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _paths(stage: StagePlan) -> dict[str, Path]:
    return {"checkpoints": stage.stage_dir / "checkpoints", "chat_template": stage.stage_dir / "chat_template.jinja",
            "train": stage.data_dir / "train.jsonl", "val": stage.data_dir / "val.jsonl",
            "log": stage.stage_dir / "checkpoints" / "experiment_log.jsonl",
            "earlier_logs": stage.stage_dir / "experiment_log.earlier.jsonl"}


def render(stage: StagePlan, cfg: dict[str, Any]) -> dict[str, Any]:
    """The EasyR1 config of one DE stage (the recipe's grpo.config + the stage's args + planner-owned keys)."""
    conf = merge_config(copy.deepcopy(cfg["grpo"]["config"]), stage.spec.get("args") or {})
    nnodes, gpus = cluster_shape(cfg["cluster"])
    data, worker, trainer = (conf.setdefault(k, {}) for k in ("data", "worker", "trainer"))
    paths = _paths(stage)
    data.update(train_files=str(paths["train"]), val_files=str(paths["val"]), prompt_key="prompt",
                answer_key="answer", override_chat_template=str(paths["chat_template"]), seed=int(cfg["seed"]))
    actor, rollout, reward = (worker.setdefault(k, {}) for k in ("actor", "rollout", "reward"))
    actor.setdefault("model", {})["model_path"] = stage.input_model
    rollout["n"] = int(stage.rollout_n)
    rollout["tensor_parallel_size"] = max(1, min(int(rollout.get("tensor_parallel_size", 1)), gpus or 1))
    needed = int(data.get("max_prompt_length", 512)) + int(data.get("max_response_length", 512))
    rollout["max_num_batched_tokens"] = max(int(rollout.get("max_num_batched_tokens", 0)), needed)
    reward.update(reward_function=f"{REWARD_FILE}:compute_score", reward_function_kwargs=dict(cfg["reward"]))
    trainer.update(total_epochs=int(stage.epochs), nnodes=nnodes, n_gpus_per_node=gpus,
                   experiment_name=f"{cfg['experiment_name']}-{stage.name}",
                   save_checkpoint_path=str(paths["checkpoints"]), find_last_checkpoint=True)
    trainer.pop("load_checkpoint_path", None)
    return conf


def batch_problems(conf: Mapping[str, Any], samples: int) -> list[str]:
    """EasyR1's batch rules (notes §1.3), which it checks only once it has GPUs, on the rendered config."""
    data, worker, trainer = conf["data"], conf["worker"], conf["trainer"]
    actor, rollout = worker["actor"], worker["rollout"]
    world = int(trainer["nnodes"]) * int(trainer["n_gpus_per_node"])
    rbs, gbs, n = int(data["rollout_batch_size"]), int(actor["global_batch_size"]), int(rollout["n"])
    micro_exp = int(actor.get("micro_batch_size_per_device_for_experience", 16))
    micro_upd = int(actor.get("micro_batch_size_per_device_for_update", 4))
    tp = int(rollout["tensor_parallel_size"])
    problems = []
    if world < 1:
        problems.append("trainer.n_gpus_per_node x nnodes must be >= 1 (EasyR1 needs GPUs: cluster.gpus_per_node)")
        return problems
    if rbs % gbs:
        problems.append(f"data.rollout_batch_size {rbs} % worker.actor.global_batch_size {gbs} != 0")
    if (rbs * n) % micro_exp:
        problems.append(f"rollout_batch_size*n {rbs * n} % micro_batch_size_per_device_for_experience {micro_exp} != 0")
    if (gbs * n) % world or (gbs * n) // world == 0 or ((gbs * n) // world) % micro_upd:
        problems.append(f"global_batch_size*n {gbs * n} must split over {world} GPUs into multiples of "
                        f"micro_batch_size_per_device_for_update {micro_upd}")
    if tp > world or world % tp:
        problems.append(f"rollout.tensor_parallel_size {tp} must divide the {world} GPUs")
    if rbs % world:
        problems.append(f"rollout_batch_size {rbs} must divide evenly over {world} GPUs")
    if samples < rbs:
        problems.append(f"the stage has {samples} prompts, fewer than rollout_batch_size {rbs} (drop_last: no step)")
    if int(rollout["max_num_batched_tokens"]) < int(data["max_prompt_length"]) + int(data["max_response_length"]):
        problems.append("rollout.max_num_batched_tokens < max_prompt_length + max_response_length")
    return problems


def _check_in_engine(stage: StagePlan, conf: Mapping[str, Any], workdir: Path, data: bool) -> dict[str, Any]:
    """EasyR1's own checks of ``conf`` (config + reward, and the data when asked), in EasyR1's environment."""
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(dict(conf), sort_keys=False), encoding="utf-8")
    probe = write_probe(stage, conf["worker"]["reward"]["reward_function_kwargs"], workdir / "reward_probe.jsonl")
    args = ["--config", str(config_path), "--reward", str(probe)] + (["--data"] if data else [])
    return run_check(stage.name, Path(stage.python), CHECK_MODULE, args,
                     stage.log_path if data else None)


def validate(stage: StagePlan) -> list[str]:
    """Batch rules, then EasyR1's own config and reward checks; returns notes on what was not checked."""
    problems = batch_problems(stage.config, stage.samples)
    if problems:
        raise StageFailed(stage.name, stage.config_path,
                          "EasyR1 batch settings are inconsistent: " + "; ".join(problems) +
                          ". Fix grpo.config (data.rollout_batch_size, worker.actor.*) or the cluster profile")
    if not Path(stage.python).exists():
        return [f"NOT checked by EasyR1 (config, reward, data): {missing_env_hint('easyr1', Path(stage.python))}"]
    with tempfile.TemporaryDirectory(prefix="prouie-easyr1-") as tmp:
        template = Path(tmp) / "chat_template.jinja"  # written for real when the stage starts
        template.write_text("{{ messages[0]['content'] }}", encoding="utf-8")
        conf = copy.deepcopy(stage.config)
        conf["data"]["override_chat_template"] = str(template)
        report = _check_in_engine(stage, conf, Path(tmp), data=False)
    return [f"checked by EasyR1 itself: {'; '.join(report['checked'])}",
            "data and chat template: checked by EasyR1's dataloader when the stage starts (built then)"]


def check_data(stage: StagePlan) -> None:
    """Every row of train.jsonl has a plain-string ``prompt`` and a JSON-record ``answer``, and no image or video
    column (EasyR1 would take its multimodal path); the row count is the manifest's."""
    from rewards.inputs import gold_from_answer

    path = _paths(stage)["train"]
    if not path.is_file():
        raise StageFailed(stage.name, path, "the GRPO data file is missing; delete data/ and rerun to rebuild it")
    rows = 0
    with open(path, encoding="utf-8") as lines:
        for rows, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
                if not isinstance(row.get("prompt"), str):
                    raise ValueError("'prompt' must be a plain string for EasyR1")
                if {"images", "videos"} & set(row):
                    raise ValueError("an 'images'/'videos' column sends EasyR1 down its multimodal path")
                gold_from_answer(row["answer"])
            except (ValueError, KeyError, TypeError) as err:
                raise StageFailed(stage.name, f"{path}:{rows}", f"row {rows} is not EasyR1 data: {err}; delete "
                                                                f"data/ and rerun to rebuild it") from err
    if rows != stage.samples:
        raise StageFailed(stage.name, path, f"{rows} rows, but the stage asks for {stage.samples}; delete data/ "
                                            f"and rerun to rebuild it")


def jobs(stage: StagePlan, cfg: dict[str, Any]) -> list[StageJob]:
    nnodes, gpus = cluster_shape(cfg["cluster"])
    return [StageJob(stage=stage.name, argv=[stage.python, "-m", "verl.trainer.main", f"config={stage.config_path}"],
                     env=backend_env(stage.python), cwd=str(REPO_ROOT), log_path=str(stage.log_path),
                     num_gpus=gpus, nnodes=nnodes, multinode="ray_driver")]


def _keep_log_aside(paths: Mapping[str, Path]) -> None:
    """Append the last attempt's experiment log to the stage's earlier-attempts log (EasyR1 empties it)."""
    if paths["log"].is_file() and paths["log"].stat().st_size:
        with open(paths["earlier_logs"], "a", encoding="utf-8") as earlier:
            earlier.write(paths["log"].read_text(encoding="utf-8"))
        paths["log"].write_text("", encoding="utf-8")


def prepare(stage: StagePlan, cfg: dict[str, Any]) -> Path | None:
    """Write the chat template and the validation file, check the data with EasyR1's own dataloader, keep the
    last attempt's log; an interrupted attempt resumes through EasyR1's checkpoint tracker."""
    from converters.chat import chat_prompt, easyr1_chat_template

    paths = _paths(stage)
    template = cfg["model"]["template"]
    paths["chat_template"].write_text(easyr1_chat_template(template), encoding="utf-8")
    with open(paths["train"], encoding="utf-8") as train:
        head = list(islice(train, int(cfg["grpo"]["val_rows"])))
    paths["val"].write_text("".join(head), encoding="utf-8")
    if not Path(stage.python).exists():
        raise StageFailed(stage.name, stage.python, missing_env_hint("easyr1", Path(stage.python)))
    with tempfile.TemporaryDirectory(prefix="prouie-easyr1-") as tmp:
        data = _check_in_engine(stage, stage.config, Path(tmp), data=True)["data"]
    ours = [chat_prompt(json.loads(row)["prompt"], template) for row in head[: len(data["prompts"])]]
    if data["prompts"] != ours:
        raise StageFailed(stage.name, paths["chat_template"],
                          f"EasyR1's model input differs from SFT's: {data['prompts'][0]!r} vs {ours[0]!r}")
    if (data["train_rows"], data["val_rows"]) != (stage.samples, len(head)):
        raise StageFailed(stage.name, paths["train"],
                          f"EasyR1 kept {data['train_rows']} of {stage.samples} training and {data['val_rows']} of "
                          f"{len(head)} validation prompts (filter_overlong_prompts drops prompts longer than "
                          f"data.max_prompt_length); raise data.max_prompt_length in grpo.config")
    _keep_log_aside(paths)
    tracker = paths["checkpoints"] / "checkpoint_tracker.json"
    return paths["checkpoints"] if tracker.is_file() else None


def last_actor_dir(stage: StagePlan) -> Path:
    tracker = _paths(stage)["checkpoints"] / "checkpoint_tracker.json"
    if not tracker.is_file():
        raise StageFailed(stage.name, tracker, "EasyR1 finished without a checkpoint tracker; see stage.log")
    step = json.loads(tracker.read_text(encoding="utf-8"))["last_global_step"]
    return _paths(stage)["checkpoints"] / f"global_step_{step}" / "actor"


def eos_ids(model_dir: Path) -> list[int]:
    path = model_dir / "generation_config.json"
    if not path.is_file():
        return []
    eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
    return [eos] if isinstance(eos, int) else list(eos or [])


def publish(stage: StagePlan, merged: Path) -> None:
    """Copy a merged Hugging Face folder to ``output/``, restoring the base model's EOS ids if they were lost."""
    if stage.output_dir.exists():
        shutil.rmtree(stage.output_dir)
    shutil.copytree(merged, stage.output_dir)
    base = Path(stage.input_model)
    if set(eos_ids(base)) - set(eos_ids(stage.output_dir)) and (base / "generation_config.json").is_file():
        shutil.copy2(base / "generation_config.json", stage.output_dir / "generation_config.json")


def merger_script(stage: StagePlan, cfg: Mapping[str, Any]) -> Path:
    """EasyR1's ``scripts/model_merger.py``: ``grpo.merger``, or the copy in the environment."""
    return Path(cfg["grpo"].get("merger") or Path(stage.python).parents[1] / MERGER)


def finish(stage: StagePlan, cfg: dict[str, Any], run_job) -> None:
    """Merge the last checkpoint with EasyR1's merger and copy it to ``output/`` (keeping the EOS ids)."""
    actor = last_actor_dir(stage)
    run_job(StageJob(stage=stage.name, argv=[stage.python, str(merger_script(stage, cfg)), "--local_dir", str(actor)],
                     env=backend_env(stage.python), cwd=str(REPO_ROOT), log_path=str(stage.log_path)))
    publish(stage, actor / "huggingface")


def _flat(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def step_rewards(lines: list[str], key: str) -> dict[int, float]:
    """Reward per training step in logger lines (``{"step": N, ...}``); a later line for a step wins, so a step
    redone after a resume counts once, as its last attempt logged it."""
    rewards: dict[int, float] = {}
    for line in lines:
        if line.strip():
            entry = json.loads(line)
            found = [v for k, v in _flat(entry).items() if k.endswith(key)]
            if found:
                rewards[int(entry["step"])] = float(found[0])
    return rewards


def results(stage: StagePlan) -> dict[str, Any]:
    """Mean of ``reward/overall`` over every training step of every attempt (experiment_log.jsonl)."""
    paths = _paths(stage)
    lines = [line for p in (paths["earlier_logs"], paths["log"]) if p.is_file()
             for line in p.read_text(encoding="utf-8").splitlines()]
    rewards = step_rewards(lines, "reward/overall")
    ordered = [rewards[s] for s in sorted(rewards)]
    return {"mean_reward": sum(ordered) / len(ordered) if ordered else None,
            "final_reward": ordered[-1] if ordered else None, "steps": len(ordered)}
