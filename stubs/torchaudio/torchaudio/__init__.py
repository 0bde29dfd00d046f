"""ProUIE stub of ``torchaudio`` (installed by scripts/setup_env.sh on machines whose torch has no CUDA).

LLaMA-Factory imports torchaudio at module level but only uses it for audio inputs.  PyPI only serves CUDA builds
of torchaudio, which cannot load next to a CPU torch, so this stub stands in: importing works, every audio
function raises :class:`TorchaudioStubError`.  On a machine with a CUDA torch the real torchaudio is kept.
"""

from __future__ import annotations

__version__ = "2.4.0+prouie.stub"
IS_PROUIE_STUB = True


class TorchaudioStubError(RuntimeError):
    """Raised by every function of the stub."""


def _unavailable(name: str):
    def fn(*args, **kwargs):
        raise TorchaudioStubError(
            f"torchaudio.{name} is not available: this is ProUIE's torchaudio stub for CPU-only torch "
            "(text-only training). Audio inputs need a real torchaudio built for your torch; on a CUDA machine "
            "scripts/setup_env.sh keeps the real one."
        )

    fn.__name__ = name.rsplit(".", 1)[-1]
    fn.__qualname__ = fn.__name__
    return fn


load = _unavailable("load")
save = _unavailable("save")
info = _unavailable("info")

from torchaudio import functional  # noqa: E402

__all__ = ["IS_PROUIE_STUB", "TorchaudioStubError", "functional", "info", "load", "save"]
