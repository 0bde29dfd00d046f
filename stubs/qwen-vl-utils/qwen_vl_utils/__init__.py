"""ProUIE stub of ``qwen_vl_utils`` (see ``vision_process``); the real package is used on CUDA machines."""

from qwen_vl_utils.vision_process import IS_PROUIE_STUB, QwenVLUtilsStubError

__all__ = ["IS_PROUIE_STUB", "QwenVLUtilsStubError"]
