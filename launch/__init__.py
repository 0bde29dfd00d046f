"""Configuration, stage planning and launching of training runs (Hydra recipes -> LLaMA-Factory / GRPO)."""
