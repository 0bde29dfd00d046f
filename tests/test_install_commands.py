"""Every `pip install` line of the README resolves with pip's own resolver (dry run; nothing is installed).

The engines' environments (`make engine ...`) are built for real by CI and by tests/helpers/engines.py; this file
covers the pip commands a user types. `.venv/prouie-constraints.txt` is the file the set-up writes; here it pins
the CPU torch the set-up would pin on this machine.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tests.helpers.smoke_runs import REPO

pytestmark = pytest.mark.slow


def readme_pip_commands() -> list[str]:
    """The `pip install ...` lines inside the README's bash blocks (comments stripped)."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), flags=re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines()
            if line.strip().startswith("pip install")]


def test_the_readme_documents_pip_commands():
    commands = readme_pip_commands()
    assert "pip install -c .venv/prouie-constraints.txt -e '.[dev]'" in commands
    assert any("'.[dev,gpu]'" in c for c in commands)
    assert not any("easyr1]" in c or "verl]" in c for c in commands)  # the engines are no extras (own envs)


@pytest.mark.parametrize("command", readme_pip_commands())
def test_readme_pip_command_resolves(command, tmp_path):
    constraints = tmp_path / "prouie-constraints.txt"
    constraints.write_text("torch==2.13.0\n")
    args = [str(constraints) if a == ".venv/prouie-constraints.txt" else a for a in shlex.split(command)[2:]]
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                             "--disable-pip-version-check", *args], cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
