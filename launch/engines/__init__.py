"""The engines a stage runs on, one backend class each (``launch.stage.Backend``): LLaMA-Factory SFT
(``llamafactory``), GRPO with TRL (``trl``), EasyR1 (``easyr1``) and verl (``verl``) on the base they share
(``gpu_grpo``), the eval stage (``evaluation``); the checks that run inside an engine's own environment
(``checks``, ``easyr1_check``, ``verl_check``, ``reward_probe``), the environment a stage command runs in
(``environment``) and what a trainer leaves in its output folder (``hf_output``, ``grpo_curves``).

Nothing is imported here: the engine checks import ``launch.engines.checks`` inside an engine's environment,
which has none of ProUIE's dependencies.
"""
