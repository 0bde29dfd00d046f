"""What the two GPU GRPO engines' backends (``launch.engines.easyr1``, ``launch.engines.verl``) share: ``GPUGRPO``.

Both take their settings as the recipe's nested config plus the stage's args, always validate after training
(so both get a validation file), empty their metrics log when they start (so each attempt's log is kept aside
and the stage's results cover every attempt), and end with a merged Hugging Face folder that is copied to the
stage's output. ``GPUGRPO`` does those steps once; an engine fills in its config, commands, files and metric.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from abc import abstractmethod
from collections.abc import Callable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from launch.engines.environment import REPO_ROOT, backend_env, missing_env_hint, run_check
from launch.engines.reward_probe import write_probe
from launch.stage import Backend, RunJob, StageFailed, StageJob, StagePlan

OVERLONG_HINT = "filter_overlong_prompts drops prompts longer than data.max_prompt_length; raise it in grpo.config"


def merge_config(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` merged into ``base`` key by key (mappings recursively); ``base`` is changed and returned."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def stage_settings(stage: StagePlan) -> dict[str, Any]:
    """The recipe's ``grpo.config`` with the stage's own ``args`` merged in (a fresh copy)."""
    return merge_config(copy.deepcopy(stage.settings.grpo.config), stage.spec.get("args") or {})


def write_val_file(train: Path, val: Path, rows: int) -> list[str]:
    """The first ``rows`` training rows as the validation file (both engines insist on one); returns them."""
    with open(train, encoding="utf-8") as lines:
        head = list(islice(lines, rows))
    val.write_text("".join(head), encoding="utf-8")
    return head


def check_in_engine(stage: StagePlan, module: str, config: Mapping[str, Any], reward_kwargs: Mapping[str, Any],
                    workdir: Path, extra: list[str] | None = None, log: bool = False) -> dict[str, Any]:
    """Run an engine's own checks (``module`` in the engine's environment) on ``config`` plus a reward probe."""
    if not Path(stage.python).exists():
        raise StageFailed(stage.name, stage.python, missing_env_hint(stage.engine, Path(stage.python)))
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False, width=120), encoding="utf-8")
    probe = write_probe(stage, reward_kwargs, workdir / "reward_probe.jsonl")
    args = ["--config", str(config_path), "--reward", str(probe), *(extra or [])]
    return run_check(stage.name, Path(stage.python), module, args, stage.threads, stage.log_path if log else None)


def validate_in_engine(stage: StagePlan, module: str, config: Mapping[str, Any],
                       reward_kwargs: Mapping[str, Any]) -> list[str]:
    """Config and reward checked by the engine itself before anything runs; the notes say what was not."""
    if not Path(stage.python).exists():
        return [f"NOT checked by {stage.engine} (config, reward, data): "
                f"{missing_env_hint(stage.engine, Path(stage.python))}"]
    with tempfile.TemporaryDirectory(prefix=f"prouie-{stage.engine}-") as tmp:
        report = check_in_engine(stage, module, config, reward_kwargs, Path(tmp))
    return [f"checked by {stage.engine} itself: {'; '.join(report['checked'])}",
            f"data: checked by {stage.engine}'s own dataset class when the stage starts (it is built then)"]


def check_engine_data(stage: StagePlan, data: Mapping[str, Any], expected_prompts: list[str], val_rows: int,
                      hint: str) -> None:
    """The engine kept every row and builds byte-for-byte the model input that SFT trained on."""
    if data["prompts"] != expected_prompts[: len(data["prompts"])]:
        raise StageFailed(stage.name, stage.data_dir,
                          f"{stage.engine}'s model input differs from SFT's: {data['prompts'][0]!r} vs "
                          f"{expected_prompts[0]!r}")
    if (data["train_rows"], data["val_rows"]) != (stage.samples, val_rows):
        raise StageFailed(stage.name, stage.data_dir,
                          f"{stage.engine} kept {data['train_rows']} of {stage.samples} training and "
                          f"{data['val_rows']} of {val_rows} validation prompts ({hint})")


def check_rows(stage: StagePlan, path: Path, row_check: Callable[[dict[str, Any]], None]) -> None:
    """Every row of a GRPO jsonl passes ``row_check`` (raises ValueError/KeyError/TypeError) and the row count
    is the stage's; a bad row is named by line."""
    if not path.is_file():
        raise StageFailed(stage.name, path, "the GRPO data file is missing; delete data/ and rerun to rebuild it")
    rows = 0
    with open(path, encoding="utf-8") as lines:
        for rows, line in enumerate(lines, 1):
            try:
                row_check(json.loads(line))
            except (ValueError, KeyError, TypeError) as err:
                raise StageFailed(stage.name, f"{path}:{rows}", f"row {rows} is not {stage.engine} data: {err}; "
                                                                f"delete data/ and rerun to rebuild it") from err
    if rows != stage.samples:
        raise StageFailed(stage.name, path, f"{rows} rows, but the stage asks for {stage.samples}; delete data/ "
                                            f"and rerun to rebuild it")


def keep_log_aside(log: Path, earlier: Path) -> None:
    """Append the last attempt's metrics log to the stage's earlier-attempts log (the engine empties it)."""
    if log.is_file() and log.stat().st_size:
        with open(earlier, "a", encoding="utf-8") as out:
            out.write(log.read_text(encoding="utf-8"))
        log.write_text("", encoding="utf-8")


def _flat(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def step_values(logs: list[Path], key: str) -> list[float]:
    """The value of metric ``key`` per training step over every attempt's log (lines ``{"step": N, ...}``), in
    step order; a later line for a step wins, so a step redone after a resume counts once."""
    values: dict[int, float] = {}
    for path in logs:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                found = [v for k, v in _flat(entry).items() if k.endswith(key)]
                if found:
                    values[int(entry["step"])] = float(found[0])
    return [values[step] for step in sorted(values)]


def reward_results(values: list[float]) -> dict[str, Any]:
    return {"mean_reward": sum(values) / len(values) if values else None,
            "final_reward": values[-1] if values else None, "steps": len(values)}


def eos_ids(model_dir: Path) -> list[int]:
    path = model_dir / "generation_config.json"
    if not path.is_file():
        return []
    eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
    return [eos] if isinstance(eos, int) else list(eos or [])


def publish(stage: StagePlan, merged: Path) -> None:
    """Copy a merged Hugging Face folder to ``output/``, restoring the base model's EOS ids if they were lost
    (older EasyR1 mergers dropped Qwen3's ``<|im_end|>``)."""
    if stage.output_dir.exists():
        shutil.rmtree(stage.output_dir)
    shutil.copytree(merged, stage.output_dir)
    base = Path(stage.input_model)
    if set(eos_ids(base)) - set(eos_ids(stage.output_dir)) and (base / "generation_config.json").is_file():
        shutil.copy2(base / "generation_config.json", stage.output_dir / "generation_config.json")


class GPUGRPO(Backend):
    """A DE stage on a GPU engine in its own environment: the steps both engines take, in the driver's order.

    An engine says what differs: its check module, its files (``paths``), how a row of its data looks
    (``check_row``, ``row_prompt``), the settings its own checks read when the stage starts, where a resumed
    attempt starts, the merge command, and the metric of its log that is the reward."""

    check_module: str     # the engine's own checks, run in its environment (``launch.engines.easyr1_check`` ...)
    reward_metric: str    # the per-step reward in the engine's metrics log

    @abstractmethod
    def train_args(self, stage: StagePlan) -> list[str]:
        """The training command's arguments after the environment's Python."""

    def train_env(self, stage: StagePlan) -> dict[str, str]:
        """Environment variables the training command needs beyond the stage's own."""
        return {}

    @abstractmethod
    def paths(self, stage: StagePlan) -> dict[str, Path]:
        """The stage's files; every engine has ``checkpoints``, ``train``, ``val``, ``log`` and ``earlier_logs``."""

    @abstractmethod
    def reward_kwargs(self, conf: Mapping[str, Any]) -> dict[str, Any]:
        """The reward function's keyword arguments inside the engine's settings."""

    @abstractmethod
    def check_row(self, row: dict[str, Any]) -> None:
        """Raise ValueError/KeyError/TypeError when ``row`` is not the engine's GRPO data."""

    @abstractmethod
    def row_prompt(self, row: dict[str, Any]) -> str:
        """The SFT instruction a data row holds."""

    @abstractmethod
    def start_settings(self, stage: StagePlan, chat_template: str) -> dict[str, Any]:
        """The settings the engine's checks read when the stage starts, with SFT's chat template in place."""

    @abstractmethod
    def resume_point(self, stage: StagePlan) -> Path | None:
        """The checkpoint an interrupted attempt resumes from (the engine finds it itself), if any."""

    @abstractmethod
    def last_actor_dir(self, stage: StagePlan) -> Path:
        """The actor folder of the last checkpoint; raises when training left none."""

    @abstractmethod
    def merge_command(self, stage: StagePlan, actor: Path) -> tuple[list[str], Path]:
        """The merger's arguments after the environment's Python, and the Hugging Face folder it writes."""

    def common_settings(self, stage: StagePlan, **data_keys: Any) -> tuple[dict[str, Any], int]:
        """The recipe's ``grpo.config`` with the stage's args and the keys both engines name alike: the data files,
        prompt key (and the engine's ``data_keys``) and seed under ``data``; epochs, cluster shape and experiment
        name under ``trainer``. Returns the settings and the GPUs per node; ``render`` adds the engine's own keys."""
        conf, settings = stage_settings(stage), stage.settings
        nnodes, gpus = settings.cluster.nnodes, settings.cluster.gpus_per_node
        paths = self.paths(stage)
        conf.setdefault("data", {}).update(train_files=str(paths["train"]), val_files=str(paths["val"]),
                                           prompt_key="prompt", **data_keys, seed=settings.seed)
        conf.setdefault("trainer", {}).update(total_epochs=int(stage.epochs), nnodes=nnodes, n_gpus_per_node=gpus,
                                              experiment_name=f"{settings.experiment_name}-{stage.name}")
        return conf, gpus

    def jobs(self, stage: StagePlan) -> list[StageJob]:
        """One training job on the cluster's GPUs; on several nodes it is the driver of a Ray job."""
        cluster = stage.settings.cluster
        return [StageJob(stage=stage.name, argv=[stage.python, *self.train_args(stage)],
                         env={**backend_env(stage.threads, stage.python), **self.train_env(stage)},
                         cwd=str(REPO_ROOT), log_path=str(stage.log_path), num_gpus=cluster.gpus_per_node,
                         nnodes=cluster.nnodes, multinode="ray_driver")]

    def check_data(self, stage: StagePlan) -> None:
        """Every row of train.jsonl passes ``check_row``; the row count is the stage's."""
        check_rows(stage, self.paths(stage)["train"], self.check_row)

    def prepare(self, stage: StagePlan) -> Path | None:
        """Write the validation file (and what ``start_settings`` writes), check the data with the engine's own
        dataset code, keep the last attempt's log aside; returns where an interrupted attempt resumes."""
        from transformers import AutoTokenizer

        from converters.chat import chat_prompt, engine_chat_template

        paths = self.paths(stage)
        tokenizer = AutoTokenizer.from_pretrained(stage.input_model)
        settings = self.start_settings(stage, engine_chat_template(stage.template, tokenizer))
        head = write_val_file(paths["train"], paths["val"], stage.settings.grpo.val_rows)
        with tempfile.TemporaryDirectory(prefix=f"prouie-{stage.engine}-") as tmp:
            report = check_in_engine(stage, self.check_module, settings, self.reward_kwargs(stage.config),
                                     Path(tmp), list(self.data_check_args(stage)), log=True)
        ours = [chat_prompt(self.row_prompt(json.loads(row)), stage.template, tokenizer) for row in head]
        check_engine_data(stage, report["data"], ours, len(head), OVERLONG_HINT)
        keep_log_aside(paths["log"], paths["earlier_logs"])
        return self.resume_point(stage)

    def data_check_args(self, stage: StagePlan) -> tuple[str, ...]:
        """The check module's arguments when the stage starts (``--data``: the data through the engine)."""
        return ("--data",)

    def finish(self, stage: StagePlan, run_job: RunJob) -> None:
        """Merge the last checkpoint with the engine's merger and copy it to ``output/`` (keeping the EOS ids)."""
        argv, merged = self.merge_command(stage, self.last_actor_dir(stage))
        run_job(StageJob(stage=stage.name, argv=[stage.python, *argv], env=backend_env(stage.threads, stage.python),
                         cwd=str(REPO_ROOT), log_path=str(stage.log_path)))
        publish(stage, merged)

    def results(self, stage: StagePlan) -> dict[str, Any]:
        """Mean of ``reward_metric`` over every training step of every attempt."""
        paths = self.paths(stage)
        return reward_results(step_values([paths["earlier_logs"], paths["log"]], self.reward_metric))
