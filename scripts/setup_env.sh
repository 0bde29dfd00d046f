#!/usr/bin/env bash
# Create or update ProUIE's virtual environment (.venv by default).  Idempotent: a second run with unchanged
# inputs returns at once (stamp file).  Called by `make venv`, on which `make test` and `make smoke` depend.
#
# What it does, in order:
#   1. Create the venv with $PYTHON (default python3, must be >= 3.10) if it is missing.
#   2. Decide torch:
#        - torch already importable in the venv        -> keep it (whatever build it is);
#        - else $PROUIE_TORCH_SPEC is set             -> pip install that (e.g. "torch==2.13.0");
#        - else `nvidia-smi` works (a CUDA machine)   -> pip install torch (PyPI's default, CUDA build);
#        - else (no CUDA)                             -> pip install torch==2.13.0 (the CPU build, see below).
#      $PROUIE_TORCH_INDEX_URL, if set, is passed to that one pip call as --index-url (for example
#      https://download.pytorch.org/whl/cpu to get a CPU build from the PyTorch index).
#   3. Write .venv/prouie-constraints.txt pinning the installed torch exactly (e.g. torch==2.13.0+cpu) and run
#      `pip install -c .venv/prouie-constraints.txt -e '.[dev]'`, so resolving llamafactory's dependencies can
#      never swap torch for another build (it otherwise pulls CUDA torch + nvidia-* packages, silently).
#   4. Only when the torch build has no CUDA (torch.version.cuda is None): uninstall torchvision/torchaudio (PyPI
#      serves CUDA builds of them, which break `import transformers` next to a CPU torch) and install the stub in
#      stubs/torchaudio (LLaMA-Factory imports torchaudio at module level).
#   5. Verify: torch, transformers (PreTrainedModel), llamafactory's trainer entry point and the toolkit packages
#      import, and torch is exactly the build chosen in step 2.  Any failure stops with a message.
#
# Environment: PYTHON, PROUIE_VENV (default .venv), PROUIE_TORCH_SPEC, PROUIE_TORCH_INDEX_URL,
#              PROUIE_EXTRAS (default "dev"; e.g. "dev,gpu" on a CUDA machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${PROUIE_VENV:-.venv}"
[[ "$VENV" = /* ]] || VENV="$ROOT/$VENV"
PY="$VENV/bin/python"
PYTHON="${PYTHON:-python3}"
EXTRAS="${PROUIE_EXTRAS:-dev}"
STAMP="$VENV/.prouie-setup-stamp"
CONSTRAINTS="$VENV/prouie-constraints.txt"

log() { printf '[setup_env] %s\n' "$*" >&2; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/torch_env.sh
source "$ROOT/scripts/torch_env.sh"

# The stamp records everything that decides the result; a match means there is nothing to do.
input_hash() {
    {
        # Only the parts of pyproject.toml that change what is installed (editing e.g. [tool.ruff] costs nothing).
        "$PYTHON" - <<'PYEOF' 2>/dev/null || cat pyproject.toml
import json, tomllib
d = tomllib.load(open("pyproject.toml", "rb"))
print(json.dumps([d.get("build-system"), d.get("project"), d.get("tool", {}).get("setuptools")], sort_keys=True))
PYEOF
        cat scripts/setup_env.sh scripts/torch_env.sh
        cat stubs/torchaudio/pyproject.toml
        find stubs/torchaudio/torchaudio -type f -name '*.py' -print0 | LC_ALL=C sort -z | xargs -0 cat
        printf '%s|%s|%s|%s' "$EXTRAS" "${PROUIE_TORCH_SPEC:-}" "${PROUIE_TORCH_INDEX_URL:-}" "$VENV"
    } | sha256sum | cut -d' ' -f1
}
HASH="$(input_hash)"
if [[ -f "$STAMP" && -x "$PY" && "$(cat "$STAMP")" == "$HASH" ]]; then
    log "environment $VENV is up to date (stamp $STAMP)"
    touch "$STAMP"  # keeps make's mtime-based rule quiet too
    exit 0
fi

t0=$SECONDS

# ------------------------------------------------------------------------------------------------ 1. venv
if [[ ! -x "$PY" ]]; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' on PATH; set PYTHON=/path/to/python3.10+"
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); ProUIE needs Python >= 3.10 (set PYTHON=...)"
    log "creating $VENV with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$VENV uses $("$PY" -V 2>&1); ProUIE needs Python >= 3.10 (delete $VENV and set PYTHON=...)"
PIP=("$PY" -m pip --disable-pip-version-check)

# ------------------------------------------------------------------------------------------------ 2. torch
ensure_torch "$PY" torch   # scripts/torch_env.sh; on a CUDA machine PyPI's default (CUDA) torch
TORCH="$TORCH_VERSION $TORCH_CUDA"

# ------------------------------------------------------------------------------------------------ 3. toolkit
write_torch_constraint "$CONSTRAINTS"
log "installing ProUIE (-e .[$EXTRAS]) with torch pinned to $TORCH_VERSION"
# (the many "Requirement already satisfied" lines are filtered out; pipefail keeps pip's exit status)
"${PIP[@]}" install --progress-bar off -c "$CONSTRAINTS" -e ".[$EXTRAS]" 2>&1 \
    | { grep -v -e '^Requirement already satisfied' -e '^  Stored in directory' || true; }
log "toolkit installed ($((SECONDS - t0)) s)"

# ------------------------------------------------------------------------------------------------ 4. CPU fixes
if [[ "$TORCH_CUDA" == none ]]; then
    # PyPI's torchvision/torchaudio link libtorch_cuda; next to a CPU torch they break `import transformers`
    # (torchvision::nms) and fail to load (torchaudio).  pip may put them back on every run (llamafactory
    # requires them), so this runs every time the environment is updated.
    stub_installed="$("$PY" -c 'import torchaudio; print(getattr(torchaudio, "IS_PROUIE_STUB", False))' 2>/dev/null || true)"
    if "$PY" -m pip show -q torchvision >/dev/null 2>&1; then
        log "CPU torch: removing the CUDA-built torchvision"
        "${PIP[@]}" uninstall -y -q torchvision
    fi
    if [[ "$stub_installed" != True ]]; then
        if "$PY" -m pip show -q torchaudio >/dev/null 2>&1; then
            log "CPU torch: removing the CUDA-built torchaudio"
            "${PIP[@]}" uninstall -y -q torchaudio
        fi
        log "CPU torch: installing the torchaudio stub (stubs/torchaudio)"
        # Build from a copy so that no build/ or *.egg-info is left in the checkout.
        stub_tmp="$(mktemp -d)"
        cp -r stubs/torchaudio "$stub_tmp/"
        "${PIP[@]}" install -q --no-deps "$stub_tmp/torchaudio" || { rm -rf "$stub_tmp"; die "stub install failed"; }
        rm -rf "$stub_tmp"
    fi
fi

# ------------------------------------------------------------------------------------------------ 5. verify
log "verifying the environment"
# Run from / so that the checkout itself is not on sys.path: this checks the installed (editable) environment.
(cd / && EXPECT_TORCH="$TORCH" "$PY" -) <<'EOF' || die "verification failed (see above); delete $VENV and rerun to start over"
import os
import sys

import torch

got = f"{torch.__version__} {torch.version.cuda or 'none'}"
if got != os.environ["EXPECT_TORCH"]:
    sys.exit(f"torch changed during the install: expected {os.environ['EXPECT_TORCH']!r}, got {got!r}")
import transformers
from transformers import PreTrainedModel  # noqa: F401  (fails when a CUDA torchvision sits next to CPU torch)

import llamafactory
from llamafactory.train.tuner import run_exp  # noqa: F401  (imports data/mm_plugin.py -> torchaudio)

import converters  # noqa: F401
import eval  # noqa: F401
import launch  # noqa: F401
import rewards  # noqa: F401

if torch.version.cuda is None:
    from importlib import metadata

    nvidia = sorted(
        d.metadata["Name"] for d in metadata.distributions() if (d.metadata["Name"] or "").lower().startswith("nvidia-")
    )
    if nvidia:
        sys.exit(f"CPU torch, yet CUDA packages were installed: {nvidia}")
print(
    f"[setup_env] ok: torch {torch.__version__} (cuda {torch.version.cuda}), transformers {transformers.__version__}, "
    f"llamafactory {llamafactory.__version__}",
    file=sys.stderr,
)
EOF

echo "$HASH" >"$STAMP"
log "done in $((SECONDS - t0)) s"
