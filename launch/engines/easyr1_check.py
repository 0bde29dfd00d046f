"""Checks of a rendered EasyR1 stage by EasyR1's own code; runs INSIDE the EasyR1 environment.

    <.engines/easyr1/bin/python> -m launch.engines.easyr1_check --config <stage config.yaml> [--data] \
        [--reward PROBE.jsonl]

The driver (``launch.engines.easyr1``) runs this with the engine's interpreter and this repository on PYTHONPATH; it
imports nothing of ProUIE but ``launch.engines.checks`` (standard library only), and EasyR1's ``verl`` package. It
prints one JSON report on the last line of stdout; any problem makes the exit status 1.

- config: ``OmegaConf.merge(structured(PPOConfig()), file)`` + ``to_object`` + ``deep_post_init``, exactly what
  ``verl.trainer.main`` does (unknown keys and bad types raise), and every path the file sets must survive
  ``post_init`` (EasyR1 replaces a missing file by None with only a printed warning);
- data (``--data``): EasyR1's ``create_dataloader`` with the stage's tokenizer and chat template, training AND
  validation sets; reports the rows it kept (``filter_overlong_prompts`` drops rows silently) and the model input
  of the first rows, decoded from EasyR1's token ids, for the driver to compare with its own bytes;
- reward (``--reward``): ``AutoRewardManager`` loads the configured reward file and scores each probe row
  (``response``, ``ground_truth``, ``expected`` = the direct ``rewards.sfr`` score computed by the driver); the
  scores must be equal. When the model folder exists (not yet in a dry run) the probe goes through
  ``compute_reward`` on token ids, as in training; otherwise through the loaded function itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from launch.engines.checks import PROMPTS_SHOWN, read_probe, run_checks, score_problems


def load_config(path: str) -> Any:
    """The PPOConfig that ``python -m verl.trainer.main config=<path>`` would train with."""
    from omegaconf import OmegaConf
    from verl.trainer.config import PPOConfig

    merged = OmegaConf.merge(OmegaConf.structured(PPOConfig()), OmegaConf.load(path))
    config = OmegaConf.to_object(merged)
    config.deep_post_init()
    return config


def lost_paths(path: str, config: Any) -> list[str]:
    """Paths set in the file that ``post_init`` dropped (it replaces a missing file by None)."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    wanted = {"data.override_chat_template": raw["data"].get("override_chat_template"),
              "data.format_prompt": raw["data"].get("format_prompt"),
              "worker.reward.reward_function": raw["worker"].get("reward", {}).get("reward_function")}
    got = {"data.override_chat_template": config.data.override_chat_template,
           "data.format_prompt": config.data.format_prompt,
           "worker.reward.reward_function": config.worker.reward.reward_function}
    return [f"{key}: {value} does not exist (EasyR1 would silently drop it)"
            for key, value in wanted.items() if value and not got[key]]


def tokenizer_of(config: Any) -> Any:
    from verl.utils.tokenizer import get_tokenizer

    model = config.worker.actor.model
    return get_tokenizer(model.model_path, override_chat_template=config.data.override_chat_template,
                         trust_remote_code=model.trust_remote_code, use_fast=True)


def check_data(config: Any) -> dict[str, Any]:
    """EasyR1's own dataloaders over the stage's train and validation files."""
    from verl.trainer.data_loader import create_dataloader
    from verl.utils.tokenizer import get_processor

    tokenizer = tokenizer_of(config)
    processor = get_processor(config.worker.actor.model.model_path,
                              override_chat_template=config.data.override_chat_template,
                              trust_remote_code=config.worker.actor.model.trust_remote_code, use_fast=True)
    train, val = create_dataloader(config.data, tokenizer, processor)
    shown = range(min(PROMPTS_SHOWN, len(train.dataset)))
    return {"train_rows": len(train.dataset), "val_rows": len(val.dataset), "train_batches": len(train),
            "prompts": [tokenizer.decode(train.dataset[i]["raw_prompt_ids"], skip_special_tokens=False) for i in shown]}


def check_reward(config: Any, probe_path: str) -> dict[str, Any]:
    """Scores of the engine-loaded reward vs the direct scores in the probe file."""
    import numpy as np
    import torch
    from verl.protocol import DataProto
    from verl.workers.reward import AutoRewardManager

    rows = read_probe(probe_path)
    tokenizer = tokenizer_of(config) if Path(config.worker.actor.model.model_path).is_dir() else None
    manager = AutoRewardManager(config.worker.reward, tokenizer)
    if tokenizer is None:
        inputs = [{"response": r["response"], "response_length": 1, "ground_truth": r["ground_truth"]} for r in rows]
        return {"problems": score_problems("EasyR1", rows, manager.reward_fn(inputs))}
    ids = [tokenizer.encode(r["response"], add_special_tokens=False) or [tokenizer.pad_token_id] for r in rows]
    width = max(len(i) for i in ids)
    responses = torch.tensor([i + [tokenizer.pad_token_id] * (width - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    data = DataProto.from_dict(tensors={"responses": responses, "response_mask": mask},
                               non_tensors={"ground_truth": np.array([r["ground_truth"] for r in rows], dtype=object)})
    _, metrics = manager.compute_reward(data)  # {key: [value per row]}
    got = [{key: values[i] for key, values in metrics.items()} for i in range(len(rows))]
    return {"problems": score_problems("EasyR1", rows, got)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", action="store_true", help="load train and validation data with create_dataloader")
    parser.add_argument("--reward", help="JSONL probe: response, ground_truth, expected (direct scores)")
    args = parser.parse_args(argv)
    return run_checks("EasyR1", lambda: load_config(args.config),
                      "config: EasyR1 PPOConfig merge + to_object + deep_post_init", [
                          (True, "paths: every file the config names still set after post_init",
                           lambda config: {"problems": lost_paths(args.config, config)}),
                          (args.data, "data: EasyR1 create_dataloader (train + validation)",
                           lambda config: {"data": check_data(config)}),
                          (bool(args.reward), "reward: EasyR1's AutoRewardManager (compute_reward on token ids once "
                                              "the model folder exists) scores == direct rewards.sfr scores",
                           lambda config: check_reward(config, args.reward))])


if __name__ == "__main__":
    sys.exit(main())
