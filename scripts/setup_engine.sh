#!/usr/bin/env bash
# Create or update the Python environment of one GRPO engine: .engines/<engine>/ (git-ignored), where the
# recipes look for its interpreter.  Idempotent: a second run with unchanged inputs returns at once (stamp file).
#   scripts/setup_engine.sh easyr1      # EasyR1 (hiyouga/EasyR1, installs a module named `verl`), transformers < 5
#   scripts/setup_engine.sh verl        # verl 0.9.1 from PyPI, transformers >= 5.5.3, < 5.11, != 5.6.0
#   make engine ENGINE=easyr1|verl      # the same
# Each engine has its own environment: both install a module named `verl`, and they need other transformers
# versions than LLaMA-Factory (the main .venv).  ProUIE's own code reaches them through PYTHONPATH (its reward
# files need only json-repair and pyyaml besides), never by installing the toolkit there.
#
# What it does, in order:
#   1. Create the venv with $PYTHON (default python3, >= 3.10; verl needs < 3.13).
#   2. torch, exactly as scripts/setup_env.sh decides it (scripts/torch_env.sh): kept when present; on a machine
#      without CUDA the CPU build torch==2.13.0; on a CUDA machine the torch the engine's vLLM is built for
#      (EasyR1: torch 2.8.0 for vLLM 0.11.0, its Docker image's stack; verl: torch 2.11.0 of verl[vllm]).
#   3. A constraints file (<env>/prouie-constraints.txt): that torch exactly, omegaconf < 2.4 (2.4 breaks EasyR1's
#      PPOConfig), the engine's transformers range, and the main project's Ray version (a Ray cluster and the
#      engine's ray.init() must run the same Ray).
#   4. The engine:
#        easyr1  from $EASYR1_SRC (a local checkout; copied to a temporary folder first, since pip builds a
#                setup.py project in place) or else cloned from $EASYR1_REPO at $EASYR1_REF (default: GitHub, the
#                commit ProUIE was checked against).  Its scripts/model_merger.py is kept in the environment
#                (share/easyr1/scripts/).  Installed without its dependencies, then those from its own metadata;
#                without CUDA, its GPU-only ones (vllm, flash-attn, liger-kernel, and qwen-vl-utils, which needs
#                torchvision, CUDA-only on PyPI) are left out and vLLM / qwen-vl-utils are replaced by the import
#                stubs in stubs/ (anything that uses them raises).  With CUDA: vLLM 0.11.0, liger-kernel, and
#                flash-attn when it builds (it needs nvcc; EasyR1's padding-free mode needs it).
#        verl    $VERL_SPEC (default verl==0.9.1) from PyPI plus the pieces of verl[verl-core] its trainer imports;
#                with CUDA verl[vllm] (torch 2.11.0, vLLM 0.24.0, transformers 5.9.0).
#      Both: what ProUIE's reward files import (json-repair, pyyaml, at pyproject.toml's versions).
#   5. Verify: torch is still the build of step 2, the engine's trainer entry point and ProUIE's reward adapters
#      import, and without CUDA no nvidia-* package came in.
#
# Environment: PYTHON, PROUIE_ENGINES_DIR (default <repo>/.engines), PROUIE_TORCH_SPEC, PROUIE_TORCH_INDEX_URL,
#              EASYR1_SRC, EASYR1_REPO, EASYR1_REF, VERL_SPEC.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ENGINE="${1:-}"
log() { printf '[setup_engine %s] %s\n' "$ENGINE" "$*" >&2; }
die() { printf '[setup_engine %s] ERROR: %s\n' "$ENGINE" "$*" >&2; exit 1; }
# shellcheck source=scripts/torch_env.sh
source "$ROOT/scripts/torch_env.sh"

case "$ENGINE" in
    easyr1)
        GPU_TORCH="torch==2.8.0"
        # EasyR1 needs transformers >= 4.54, < 5; 4.57.6 is the last 4.x (checked), and its huggingface-hub < 1.0
        # (without that pin pip backtracks through every transformers 4.x for many minutes).
        ENGINE_PINS=("transformers==4.57.6" "huggingface-hub<1.0")
        if [[ -n "${EASYR1_SRC:-}" ]]; then
            [[ -f "$EASYR1_SRC/setup.py" ]] || die "EASYR1_SRC=$EASYR1_SRC is not an EasyR1 checkout (no setup.py)"
            EASYR1_SRC="$(cd "$EASYR1_SRC" && pwd)"
            SOURCE="$EASYR1_SRC"
        else
            SOURCE="${EASYR1_REPO:-https://github.com/hiyouga/EasyR1.git}@${EASYR1_REF:-b44b311}"
        fi
        ;;
    verl)
        GPU_TORCH="torch==2.11.0"
        ENGINE_PINS=("transformers>=5.5.3,<5.11,!=5.6.0")  # verl 0.9.1's own range, restated
        SOURCE="${VERL_SPEC:-verl==0.9.1}"
        ;;
    *) die "usage: scripts/setup_engine.sh easyr1|verl" ;;
esac

# What ProUIE's reward files import next to the engine (they reach the project through PYTHONPATH, so only these
# third-party packages are needed there), at the versions pyproject.toml gives the main environment.
REWARD_RUNTIME="json-repair|pyyaml"
mapfile -t REWARD_REQUIRES < <(grep -oiE "\"($REWARD_RUNTIME)[^\"]*\"" pyproject.toml | tr -d '"')
[[ ${#REWARD_REQUIRES[@]} -eq 2 ]] || die "cannot find ${REWARD_RUNTIME//|/ and } in pyproject.toml's dependencies"

ENGINES_DIR="${PROUIE_ENGINES_DIR:-.engines}"
[[ "$ENGINES_DIR" = /* ]] || ENGINES_DIR="$ROOT/$ENGINES_DIR"
VENV="$ENGINES_DIR/$ENGINE"
PY="$VENV/bin/python"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.prouie-engine-stamp"
CONSTRAINTS="$VENV/prouie-constraints.txt"
GPU=cpu
has_gpu && GPU=cuda

# The stamp records everything that decides the result; a match means there is nothing to do.
source_stamp() {  # a local EasyR1 checkout: its metadata and version file (a git URL names its commit itself)
    if [[ -d "$SOURCE" ]]; then
        cat "$SOURCE/setup.py" "$SOURCE/requirements.txt" "$SOURCE/verl/__init__.py" "$SOURCE/SNAPSHOT" 2>/dev/null
    fi
}
input_hash() {
    {
        cat scripts/setup_engine.sh scripts/torch_env.sh
        find stubs/vllm stubs/qwen-vl-utils -type f \( -name '*.py' -o -name '*.toml' \) -print0 | LC_ALL=C sort -z \
            | xargs -0 cat
        grep -E '"ray\[' pyproject.toml
        printf '%s\n' "${REWARD_REQUIRES[@]}"
        source_stamp
        printf '%s|%s|%s|%s|%s' "$SOURCE" "$GPU" "${PROUIE_TORCH_SPEC:-}" "${PROUIE_TORCH_INDEX_URL:-}" "$VENV"
    } | sha256sum | cut -d' ' -f1
}
HASH="$(input_hash)"
if [[ -f "$STAMP" && -x "$PY" && "$(cat "$STAMP")" == "$HASH" ]]; then
    log "environment $VENV is up to date (stamp $STAMP)"
    exit 0
fi

t0=$SECONDS
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# ------------------------------------------------------------------------------------------------ 1. venv
if [[ ! -x "$PY" ]]; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' on PATH; set PYTHON=/path/to/python3.10+"
    "$PYTHON" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); the engines need Python 3.10 to 3.12 (set PYTHON=...)"
    log "creating $VENV with $("$PYTHON" -V 2>&1)"
    mkdir -p "$ENGINES_DIR"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
pip_install() {  # quiet about what is already there; pipefail keeps pip's exit status
    "${PIP[@]}" install --progress-bar off -c "$CONSTRAINTS" "$@" 2>&1 \
        | { grep -v -e '^Requirement already satisfied' -e '^  Stored in directory' -e "^WARNING: Location 'file:" \
            || true; }
}

# ------------------------------------------------------------------------------------------------ 2. torch
ensure_torch "$PY" "$GPU_TORCH"

# ------------------------------------------------------------------------------------------------ 3. constraints
write_torch_constraint "$CONSTRAINTS"
RAY_PIN="$(grep -oE '"ray\[[a-z]+\]==[^"]+"' pyproject.toml | sed -E 's/"ray\[[a-z]+\]==(.*)"/ray==\1/')"
[[ -n "$RAY_PIN" ]] || die "cannot find the ray[default]==... pin in pyproject.toml"
printf '%s\n' "omegaconf>=2.3,<2.4" "${ENGINE_PINS[@]}" "$RAY_PIN" >>"$CONSTRAINTS"
log "constraints: $(grep -v '^#' "$CONSTRAINTS" | tr '\n' ' ')"

install_stub() {  # from a copy, so that no build/ or *.egg-info is left in the checkout
    cp -r "stubs/$1" "$TMP/$1"
    "${PIP[@]}" install -q --no-deps "$TMP/$1"
}

# ------------------------------------------------------------------------------------------------ 4. engine
if [[ "$ENGINE" == easyr1 ]]; then
    if [[ -d "$SOURCE" ]]; then
        cp -r "$SOURCE" "$TMP/EasyR1"
        chmod -R u+w "$TMP/EasyR1"
    else
        log "cloning ${SOURCE%@*} at ${SOURCE##*@}"
        git clone --quiet "${SOURCE%@*}" "$TMP/EasyR1"
        git -C "$TMP/EasyR1" checkout --quiet "${SOURCE##*@}"
    fi
    log "installing EasyR1 from $SOURCE (without its dependencies)"
    pip_install --no-deps --force-reinstall "$TMP/EasyR1"
    # Its checkpoint merger is a script outside the package: keep it in the environment (launch/engines/easyr1.py).
    mkdir -p "$VENV/share/easyr1/scripts"
    cp "$TMP/EasyR1/scripts/model_merger.py" "$VENV/share/easyr1/scripts/"
    # EasyR1's own requirement list, from the installed metadata (its distribution is named `verl`).
    mapfile -t requires < <("$PY" - "$GPU" <<'PYEOF'
import re
import sys
from importlib.metadata import requires

skip = {"vllm", "flash-attn", "liger-kernel", "qwen-vl-utils"} if sys.argv[1] == "cpu" else {"flash-attn"}
for line in requires("verl") or []:
    name = re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower().replace("_", "-")
    if ";" not in line and name not in skip:  # markers are extras (EasyR1's `dev`)
        print(line)
PYEOF
    )
    [[ ${#requires[@]} -gt 1 ]] || die "could not read EasyR1's requirements from its metadata"
    if [[ "$GPU" == cuda ]]; then
        requires+=("vllm==0.11.0")
    else
        requires+=(msgspec)  # EasyR1's verl/utils/vllm_utils.py imports it at module level (vLLM brings it on GPU)
    fi
    log "installing EasyR1's dependencies: ${requires[*]}"
    pip_install "${requires[@]}"
    if [[ "$GPU" == cuda ]]; then
        if command -v nvcc >/dev/null 2>&1; then
            log "building flash-attn (EasyR1's padding-free mode; takes a while)"
            pip_install --no-build-isolation "flash-attn>=2.4.3" \
                || log "WARNING: flash-attn did not build; set worker.actor.padding_free=false in the recipe"
        else
            log "WARNING: no nvcc, so no flash-attn: the recipe must set worker.actor.padding_free=false"
        fi
    else
        log "no CUDA: vLLM, flash-attn, liger-kernel and qwen-vl-utils left out; import stubs for vllm and qwen-vl-utils"
        install_stub vllm
        install_stub qwen-vl-utils
    fi
else
    if [[ "$GPU" == cuda ]]; then
        spec="${SOURCE/verl==/verl[vllm]==}"
        log "installing $spec"
        pip_install "$spec"
    else
        # The parts of verl[verl-core] that verl.trainer.main_ppo, its reward loop and its dataset import on CPU.
        log "installing $SOURCE (CPU: without verl[vllm], which pins a CUDA torch)"
        pip_install "$SOURCE" "TransferQueue>=0.1.10" pyzmq msgspec fastapi uvicorn cachetools
    fi
fi

log "installing what ProUIE's reward files import: ${REWARD_REQUIRES[*]}"
pip_install "${REWARD_REQUIRES[@]}"

# ------------------------------------------------------------------------------------------------ 5. verify
log "verifying the environment"
entry=verl.trainer.main
[[ "$ENGINE" == verl ]] && entry=verl.trainer.main_ppo
(cd / && EXPECT_TORCH="$TORCH_VERSION $TORCH_CUDA" ENTRY="$entry" PYTHONPATH="$ROOT" "$PY" -) <<'EOF' \
    || die "verification failed (see above); delete $VENV and rerun to start over"
import importlib
import os
import sys
from importlib import metadata

import torch

got = f"{torch.__version__} {torch.version.cuda or 'none'}"
if got != os.environ["EXPECT_TORCH"]:
    sys.exit(f"torch changed during the install: expected {os.environ['EXPECT_TORCH']!r}, got {got!r}")
import omegaconf
import transformers

importlib.import_module(os.environ["ENTRY"])
import rewards.easyr1  # noqa: F401  (what the engine loads by path: must import next to the engine)
import rewards.verl  # noqa: F401

if torch.version.cuda is None:
    nvidia = sorted(d.metadata["Name"] for d in metadata.distributions()
                    if (d.metadata["Name"] or "").lower().startswith("nvidia-"))
    if nvidia:
        sys.exit(f"CPU torch, yet CUDA packages were installed: {nvidia}")
print(f"ok: torch {torch.__version__} (cuda {torch.version.cuda}), transformers {transformers.__version__}, "
      f"omegaconf {omegaconf.__version__}, {os.environ['ENTRY']} imports", file=sys.stderr)
EOF

echo "$HASH" >"$STAMP"
log "done in $((SECONDS - t0)) s; $(du -sh "$VENV" | cut -f1) in $VENV"
