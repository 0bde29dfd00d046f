"""Reward functions for GRPO (structured format rewards, SFR-NER/RE/EE)."""
