"""Checks of a rendered verl stage by verl's own code; runs INSIDE the verl environment.

    <.engines/verl/bin/python> -m launch.engines.verl_check --config <stage config.yaml> [--write TREE.yaml] [--data]
        [--reward PROBE.jsonl]

``config.yaml`` holds ProUIE's settings in verl's key space (nested; a key written ``+name`` is one that
``ppo_trainer`` does not have, added on purpose as Hydra's ``+`` does). The driver (``launch.engines.verl``) runs this
with the engine's interpreter; it prints one JSON object on the last line of stdout:
(``launch.engines.checks``); any problem makes the exit status 1.

- config: verl's ``ppo_trainer`` composed by Hydra from verl's own config files, our settings merged in struct
  mode (a key verl does not have is an error, as on verl's command line), then verl's ``validate_config`` (what
  ``verl.trainer.main_ppo`` runs first). ``--write`` saves the composed tree: the file verl's main reads;
- data (``--data``): verl's ``create_rl_dataset`` (``RLHFDataset``) over the train and validation files with
  the stage's tokenizer and chat template; reports the rows kept (``filter_overlong_prompts``) and the model input
  of the first rows as verl's rollout builds it (``apply_chat_template`` on the row's messages);
- reward (``--reward``): verl's ``RewardLoopWorker`` (its reward manager, with the custom reward function loaded
  by verl's own loader) scores each probe row; the scores must equal the direct ``rewards.sfr`` scores the driver
  computed. In a dry run, where the model folder does not exist yet, the function is loaded by verl's
  ``get_custom_reward_fn`` and called as verl's naive reward manager calls it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from launch.engines.checks import PROMPTS_SHOWN, read_probe, run_checks, score_problems


def config_dir() -> str:
    """verl's shipped Hydra config folder (found without importing verl, whose __init__ imports torch)."""
    return str(Path(importlib.util.find_spec("verl").submodule_search_locations[0]) / "trainer" / "config")


def _split_additions(node: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """(keys verl must already have, ``+`` keys to add) of a nested settings mapping, as dotted paths for the
    additions."""
    known: dict[str, Any] = {}
    added: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("+"):
            added[prefix + key[1:]] = value
        elif isinstance(value, dict):
            known[key], more = _split_additions(value, f"{prefix}{key}.")
            added.update(more)
        else:
            known[key] = value
    return known, added


def compose(settings: dict[str, Any]) -> Any:
    """verl's ``ppo_trainer`` tree with ``settings`` merged in, checked the way ``verl.trainer.main_ppo`` does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        cfg = hydra_compose(config_name="ppo_trainer")
    known, added = _split_additions(settings)
    OmegaConf.set_struct(cfg, True)
    cfg.merge_with(known)  # struct: a key ppo_trainer lacks raises ConfigKeyError
    with open_dict(cfg):
        for dotted, value in added.items():
            if OmegaConf.select(cfg, dotted) is not None:
                raise KeyError(f"+{dotted}: verl already has this key; set it without '+'")
            OmegaConf.update(cfg, dotted, value, force_add=True)
    return cfg


def verl_validate(cfg: Any) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


def _model(cfg: Any) -> Any:
    from verl.utils.config import omega_conf_to_dataclass

    return omega_conf_to_dataclass(cfg.actor_rollout_ref.model)


def check_data(cfg: Any) -> dict[str, Any]:
    from verl.trainer.ppo.utils import create_rl_dataset

    model = _model(cfg)
    train = create_rl_dataset(cfg.data.train_files, cfg.data, model.tokenizer, model.processor, is_train=True)
    val = create_rl_dataset(cfg.data.val_files, cfg.data, model.tokenizer, model.processor, is_train=False)
    kwargs = dict(cfg.data.get("apply_chat_template_kwargs") or {})
    prompts = [model.tokenizer.apply_chat_template(train[i]["raw_prompt"], add_generation_prompt=True, tokenize=False,
                                                   **kwargs)
               for i in range(min(PROMPTS_SHOWN, len(train)))]
    return {"train_rows": len(train), "val_rows": len(val), "prompts": prompts}


def _probe_batch(rows: list[dict[str, Any]], tokenizer: Any) -> Any:
    import numpy as np
    import torch
    from verl import DataProto

    ids = [tokenizer.encode(r["response"], add_special_tokens=False) or [tokenizer.pad_token_id] for r in rows]
    width = max(len(i) for i in ids)
    responses = torch.tensor([i + [tokenizer.pad_token_id] * (width - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    return DataProto.from_dict(
        tensors={"responses": responses, "attention_mask": mask},
        non_tensors={"data_source": np.array(["probe"] * len(rows), dtype=object),
                     "reward_model": np.array([{"ground_truth": r["ground_truth"]} for r in rows], dtype=object),
                     "extra_info": np.array([{} for _ in rows], dtype=object)})


def reward_scores(cfg: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """verl's scores of the probe rows: through RewardLoopWorker when the model (tokenizer) exists."""
    if Path(cfg.actor_rollout_ref.model.path).is_dir():
        from verl.experimental.reward_loop import RewardLoopWorker

        worker = RewardLoopWorker(cfg)
        batch = _probe_batch(rows, worker.input_tokenizer)
        outputs = worker.loop.run_until_complete(worker.compute_score_batch(batch))
        return [out["reward_extra_info"] for out in outputs]
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(cfg)
    return [fn(data_source="probe", solution_str=r["response"], ground_truth=r["ground_truth"], extra_info={})
            for r in rows]


def check_reward(cfg: Any, probe_path: str) -> dict[str, Any]:
    rows = read_probe(probe_path)
    return {"problems": score_problems("verl", rows, reward_scores(cfg, rows),
                                       lambda key: "score" if key == "overall" else key)}


def main(argv: list[str] | None = None) -> int:
    import yaml
    from omegaconf import OmegaConf

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--write", help="save the composed ppo_trainer tree here")
    parser.add_argument("--data", action="store_true")
    parser.add_argument("--reward", help="JSONL probe: response, ground_truth, expected (direct scores)")
    args = parser.parse_args(argv)

    def load() -> Any:
        cfg = compose(yaml.safe_load(Path(args.config).read_text(encoding="utf-8")))
        verl_validate(cfg)
        if args.write:
            OmegaConf.save(cfg, args.write)
        return cfg

    return run_checks("verl", load, "config: verl's ppo_trainer composed by Hydra + struct merge + validate_config", [
        (args.data, "data: verl create_rl_dataset (RLHFDataset, train + validation)",
         lambda cfg: {"data": check_data(cfg)}),
        (bool(args.reward), "reward: verl's reward loop (RewardLoopWorker; before the model folder exists, verl's "
                            "get_custom_reward_fn) scores == direct rewards.sfr scores",
         lambda cfg: check_reward(cfg, args.reward))])


if __name__ == "__main__":
    sys.exit(main())
