"""Helpers for Ray tests that must not depend on, nor touch, the real user's Ray token settings.

A test gives Ray a HOME of its own (with or without a "foreign" ``~/.ray/auth_token``, as left by an earlier
``ray.init()``), drops the user's ``RAY_AUTH_*`` variables, and afterwards checks what is under ``~/.ray`` and that
a token string appears in no file and no Ray job.
"""

from __future__ import annotations

import os
from pathlib import Path

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
FOREIGN_TOKEN = "f0re1gn" * 9  # what another cluster (or an earlier ray.init()) left in ~/.ray/auth_token


def make_home(root: Path, token: str | None = None) -> Path:
    """A HOME folder under ``root``; with ``token``, ``~/.ray/auth_token`` holds it (as Ray writes it)."""
    home = root / "home"
    home.mkdir(parents=True)
    if token is not None:
        (home / ".ray").mkdir()
        (home / ".ray" / "auth_token").write_text(token)
    return home


def isolated_env(home: Path, **auth: str) -> dict[str, str]:
    """This process's environment with ``HOME=home``, none of the user's ``RAY_AUTH_*`` but ``auth``, and the
    tiny-model cache kept where it is (a new HOME would otherwise rebuild it)."""
    from launch.models.tiny import default_cache_dir

    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    return {**env, "HOME": str(home), "PROUIE_CACHE": str(default_cache_dir()), **auth}


def dot_ray(home: Path) -> dict[str, bytes]:
    """Every file under ``home/.ray`` with its bytes (``{}`` when there is no such folder)."""
    root = home / ".ray"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def files_containing(root: Path, secret: str) -> list[Path]:
    """Files under ``root`` whose bytes contain ``secret``."""
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def jobs_showing(client, secret: str) -> list[str]:
    """Submission ids of the cluster's jobs whose entrypoint, metadata, runtime_env or message contain ``secret``."""
    return [job.submission_id for job in client.list_jobs()
            if secret in f"{job.entrypoint}{job.metadata}{job.runtime_env}{job.message}"]
