"""The cache of models the toolkit makes itself (the tiny smoke model, the converted SmolLM2): one folder per key,
built once, published atomically so that processes racing to build it never see a half-written model."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path


def default_cache_dir() -> Path:
    """``$PROUIE_CACHE``, else ``~/.cache/prouie``."""
    return Path(os.environ.get("PROUIE_CACHE") or Path.home() / ".cache" / "prouie")


def cached_build(final: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """``final`` when it holds ``marker``; otherwise ``build(tmp)`` into a private folder next to it, which is then
    renamed into place (atomic; when another process finished first, its folder is kept and ours dropped)."""
    if (final / marker).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{uuid.uuid4().hex[:8]}.", dir=final.parent))
    try:
        build(tmp)
        if not (tmp / marker).is_file():
            raise RuntimeError(f"building {final.name} left no {marker}")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
