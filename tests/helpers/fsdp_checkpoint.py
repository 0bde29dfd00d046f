"""Write an engine's real FSDP actor checkpoint of a model, on CPU; runs INSIDE the engine's environment.

    <engine env python> tests/helpers/fsdp_checkpoint.py easyr1|verl <model dir> <.../global_step_N/actor>

Wraps the model in torch FSDP (gloo, world size 1) and saves it with the engine's own checkpoint manager, so the
merge step of a stage is tested on the layout the engine writes during training (sharded model state, its
``huggingface/`` config + tokenizer, verl's ``fsdp_config.json``), not on a mock. Model state only: the managers'
optimizer/RNG state needs CUDA, and the mergers read only the model.
"""

from __future__ import annotations

import os
import sys


def main(engine: str, model_dir: str, actor_dir: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("MASTER_PORT", "29631"), RANK="0",
                      WORLD_SIZE="1", LOCAL_RANK="0")
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        fsdp = FSDP(model, device_id=torch.device("cpu"), use_orig_params=False)
        if engine == "easyr1":
            from verl.utils.checkpoint.fsdp_checkpoint_manager import FSDPCheckpointManager

            FSDPCheckpointManager(fsdp, None, None, tokenizer).save_checkpoint(actor_dir, save_model_only=True)
        else:
            from omegaconf import OmegaConf
            from verl.utils.checkpoint.fsdp_checkpoint_manager import FSDPCheckpointManager

            contents = OmegaConf.create({"save_contents": ["model"], "load_contents": ["model"]})
            FSDPCheckpointManager(fsdp, processing_class=tokenizer, checkpoint_config=contents).save_checkpoint(
                actor_dir, global_step=1)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
