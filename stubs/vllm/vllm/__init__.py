"""ProUIE stub of ``vllm`` (installed by scripts/setup_engine.sh in engine environments without CUDA).

EasyR1 imports vLLM at module level (``LLM``, ``SamplingParams``, ``vllm.lora.request.LoRARequest``,
``vllm.distributed.parallel_state``, ...) although only its rollout worker on a GPU uses it.  Importing any
submodule or name works; creating or calling anything raises :class:`VLLMStubError`.  On a machine with CUDA the
set-up installs the real vLLM instead.
"""

from __future__ import annotations

from vllm._stub import VLLMStubError, install_finder, stub_getattr

__version__ = "0+prouie.stub"
IS_PROUIE_STUB = True
__getattr__ = stub_getattr("vllm")
__all__ = ["IS_PROUIE_STUB", "VLLMStubError"]
install_finder()
