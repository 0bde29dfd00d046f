"""ProUIE stub of ``qwen_vl_utils.vision_process`` (installed by scripts/setup_engine.sh without CUDA).

EasyR1 imports ``fetch_video`` from here at module level; the real module needs torchvision, which PyPI serves
only as CUDA builds.  Every name imports and raises :class:`QwenVLUtilsStubError` when called; text-only GRPO
data (ProUIE's) never calls them.
"""

from __future__ import annotations

from typing import Any, Callable

IS_PROUIE_STUB = True


class QwenVLUtilsStubError(RuntimeError):
    """Raised by every function of the stub."""


def __getattr__(name: str) -> Callable[..., Any]:
    if name.startswith("__"):
        raise AttributeError(name)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise QwenVLUtilsStubError(
            f"qwen_vl_utils.vision_process.{name} is not available: this is ProUIE's stub for a CPU-only engine "
            "environment (image and video inputs need torchvision; on a CUDA machine the set-up installs the real "
            "qwen-vl-utils).")

    refuse.__name__ = name
    return refuse
