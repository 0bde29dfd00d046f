"""Model folders the pipeline makes or hands on: the embedded tiny smoke model (``tiny``), SmolLM2-135M-Instruct
converted from its wheel (``smollm2``), the cache both live in (``cache``), folders both transformers versions read
(``hf_compat``), and the hand-off between Python environments (``handoff``, checked with ``probe``)."""
