"""The Stepwise Fine-grained Reward (SFR, paper §2.5.2) for GRPO, with thin adapters for the GRPO engines.

* ``rewards.sets``: the set functions of Eqs. 3-6 and their empty-set conventions.
* ``rewards.matching``: EE trigger-group alignment (optimal assignment, deterministic ties).
* ``rewards.sfr``: ``sfr_ner`` / ``sfr_re`` / ``sfr_ee`` on units, ``score_response`` on a model output.
* ``rewards.config``: the checked ``SFRConfig`` (values in ``recipes/reward/sfr.yaml``; no defaults in code).
* ``rewards.easyr1``, ``rewards.verl``, ``rewards.trl``: the engines' reward interfaces.

Kept free of imports so that an engine loading ``rewards/easyr1.py`` by path pulls in only what it uses.
"""
