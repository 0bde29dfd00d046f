"""GRPO stages with EasyR1 (the paper's DE engine, GPU clusters): render, check, run, merge to Hugging Face.

The stage config is EasyR1's own YAML (sections data / algorithm / worker / trainer), run as
``python3 -m verl.trainer.main config=<stage>/config.yaml`` in the EasyR1 environment (EasyR1 installs a module
named ``verl``; it is never imported here). Pitfalls handled (notes: upstream-easyr1-verl §1):

- every path is absolute (EasyR1 resolves relative paths against the driver's working directory, and a
  missing reward file only prints a warning);
- the reward is ``rewards/easyr1.py:compute_score`` with the recipe's ``reward`` group as its kwargs;
- each stage has its own ``save_checkpoint_path``, so a new stage never auto-resumes the previous one;
  ``find_last_checkpoint`` stays on and only ever resumes an interrupted attempt of the same stage (the driver
  empties the stage folder when the stage's inputs changed);
- the prompt is wrapped by ``data.override_chat_template`` = ``converters.chat.engine_chat_template``, the same
  bytes as SFT and eval;
- after training, ``scripts/model_merger.py`` of the EasyR1 checkout turns the last checkpoint into a Hugging
  Face model, which is copied into the stage's output folder with ``generation_config.json`` checked to still
  stop at the base model's EOS ids (older EasyR1 dropped Qwen3's ``<|im_end|>``).

Checks at planning time: every key against the vendored whitelist ``launch/easyr1_keys.yaml`` and the batch
divisibility rules EasyR1 enforces at start-up.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from launch.backend_env import REPO_ROOT, backend_env, cluster_shape
from launch.executor import StageFailed, StageJob
from launch.plan import StagePlan

KEYS_FILE = Path(__file__).with_name("easyr1_keys.yaml")
STAGE_CODE = ("converters.stages", "rewards.easyr1")  # the code behind the stage's data and reward
REWARD_FILE = REPO_ROOT / "rewards" / "easyr1.py"


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _paths(stage: StagePlan) -> dict[str, Path]:
    return {"checkpoints": stage.stage_dir / "checkpoints", "chat_template": stage.stage_dir / "chat_template.jinja"}


def render(stage: StagePlan, cfg: dict[str, Any]) -> dict[str, Any]:
    """The EasyR1 config of one DE stage (the recipe's grpo.config + the stage's args + planner-owned keys)."""
    conf = _merge(copy.deepcopy(cfg["grpo"]["config"]), stage.spec.get("args") or {})
    cluster = cfg["cluster"]
    nnodes, gpus = cluster_shape(cluster)
    data, worker, trainer = (conf.setdefault(k, {}) for k in ("data", "worker", "trainer"))
    paths = _paths(stage)
    data.update(train_files=str(stage.data_dir / "train.jsonl"), prompt_key="prompt", answer_key="answer",
                override_chat_template=str(paths["chat_template"]), seed=int(cfg["seed"]))
    actor, rollout, reward = (worker.setdefault(k, {}) for k in ("actor", "rollout", "reward"))
    actor.setdefault("model", {})["model_path"] = stage.input_model
    rollout["n"] = int(stage.rollout_n)
    rollout["tensor_parallel_size"] = max(1, min(int(rollout.get("tensor_parallel_size", 1)), gpus or 1))
    needed = int(data.get("max_prompt_length", 512)) + int(data.get("max_response_length", 512))
    rollout["max_num_batched_tokens"] = max(int(rollout.get("max_num_batched_tokens", 0)), needed)
    reward.update(reward_function=f"{REWARD_FILE}:compute_score", reward_function_kwargs=dict(stage.reward))
    trainer.update(total_epochs=int(stage.epochs), nnodes=nnodes, n_gpus_per_node=gpus,
                   experiment_name=f"{cfg['experiment_name']}-{stage.name}",
                   save_checkpoint_path=str(paths["checkpoints"]), find_last_checkpoint=True)
    trainer.pop("load_checkpoint_path", None)
    return conf


def _allowed() -> set[str]:
    table = yaml.safe_load(KEYS_FILE.read_text(encoding="utf-8"))
    return {f"{section}.{key}" for section, keys in table.items() for key in keys}


def unknown_keys(conf: Mapping[str, Any]) -> list[str]:
    """Dotted keys of ``conf`` outside the whitelist (a whitelisted key's value may be any mapping)."""
    allowed, found = _allowed(), []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if dotted in allowed:
                continue
            if isinstance(value, Mapping) and any(a.startswith(dotted + ".") for a in allowed):
                walk(value, dotted + ".")
            else:
                found.append(dotted)

    walk(conf, "")
    return found


def batch_problems(conf: Mapping[str, Any], samples: int) -> list[str]:
    """EasyR1's start-up batch checks (notes §1.3), evaluated on the rendered config."""
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


def validate(stage: StagePlan) -> list[str]:
    """Whitelist + batch checks + the reward file; EasyR1 itself is not importable here (GPU environment)."""
    unknown = unknown_keys(stage.config)
    if unknown:
        raise StageFailed(stage.name, stage.config_path,
                          f"EasyR1 config key(s) {unknown} are not EasyR1 keys (launch/easyr1_keys.yaml); fix "
                          f"grpo.config or stages.{stage.name}.args")
    problems = batch_problems(stage.config, stage.samples)
    if problems:
        raise StageFailed(stage.name, stage.config_path,
                          "EasyR1 batch settings are inconsistent: " + "; ".join(problems) +
                          ". Fix grpo.config (data.rollout_batch_size, worker.actor.*) or the cluster profile")
    if not REWARD_FILE.is_file():
        raise StageFailed(stage.name, REWARD_FILE, "the reward file is missing from the checkout")
    return ["EasyR1: keys checked against launch/easyr1_keys.yaml and batch rules, not by EasyR1 itself"]


def check_data(stage: StagePlan) -> None:
    """The builder wrote train.jsonl with the prompt/answer columns the config names."""


def jobs(stage: StagePlan, cfg: dict[str, Any]) -> list[StageJob]:
    nnodes, gpus = cluster_shape(cfg["cluster"])
    python = cfg["grpo"].get("python", "python3")
    return [StageJob(stage=stage.name, argv=[python, "-m", "verl.trainer.main", f"config={stage.config_path}"],
                     env=backend_env(stage.threads), cwd=str(REPO_ROOT), log_path=str(stage.log_path),
                     num_gpus=gpus, nnodes=nnodes, multinode="ray_driver")]


def prepare(stage: StagePlan, cfg: dict[str, Any]) -> Path | None:
    """Write the chat template file; an interrupted attempt resumes through EasyR1's checkpoint tracker."""
    from transformers import AutoTokenizer

    from converters.chat import engine_chat_template

    paths = _paths(stage)
    tokenizer = AutoTokenizer.from_pretrained(stage.input_model)
    paths["chat_template"].write_text(engine_chat_template(stage.template, tokenizer), encoding="utf-8")
    tracker = paths["checkpoints"] / "checkpoint_tracker.json"
    return paths["checkpoints"] if tracker.is_file() else None


def last_actor_dir(stage: StagePlan) -> Path:
    tracker = _paths(stage)["checkpoints"] / "checkpoint_tracker.json"
    if not tracker.is_file():
        raise StageFailed(stage.name, tracker, "EasyR1 finished without a checkpoint tracker; see stage.log")
    step = json.loads(tracker.read_text(encoding="utf-8"))["last_global_step"]
    return _paths(stage)["checkpoints"] / f"global_step_{step}" / "actor"


def _eos_ids(model_dir: Path) -> list[int]:
    path = model_dir / "generation_config.json"
    if not path.is_file():
        return []
    eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
    return [eos] if isinstance(eos, int) else list(eos or [])


def finish(stage: StagePlan, cfg: dict[str, Any], run_job) -> None:
    """Merge the last checkpoint to Hugging Face format and copy it to ``output/`` (keeping the EOS ids)."""
    actor = last_actor_dir(stage)
    merger = Path(cfg["grpo"]["repo_dir"]) / "scripts" / "model_merger.py"
    run_job(StageJob(stage=stage.name, argv=[cfg["grpo"].get("python", "python3"), str(merger), "--local_dir",
                                             str(actor)],
                     env=backend_env(stage.threads), cwd=str(REPO_ROOT), log_path=str(stage.log_path)))
    merged = actor / "huggingface"
    if stage.output_dir.exists():
        shutil.rmtree(stage.output_dir)
    shutil.copytree(merged, stage.output_dir)
    base = Path(stage.input_model)
    if set(_eos_ids(base)) - set(_eos_ids(stage.output_dir)) and (base / "generation_config.json").is_file():
        shutil.copy2(base / "generation_config.json", stage.output_dir / "generation_config.json")


def _flat(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def results(stage: StagePlan) -> dict[str, Any]:
    """Mean of ``reward/overall`` over the file logger's steps (experiment_log.jsonl)."""
    path = _paths(stage)["checkpoints"] / "experiment_log.jsonl"
    rewards = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            flat = _flat(json.loads(line)) if line.strip() else {}
            rewards += [float(v) for k, v in flat.items() if k.endswith("reward/overall")]
    return {"mean_reward": sum(rewards) / len(rewards) if rewards else None,
            "final_reward": rewards[-1] if rewards else None}
