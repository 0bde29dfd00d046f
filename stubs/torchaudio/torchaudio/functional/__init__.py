"""``torchaudio.functional`` of the ProUIE stub: every function raises ``TorchaudioStubError``."""

from torchaudio import _unavailable

resample = _unavailable("functional.resample")

__all__ = ["resample"]
