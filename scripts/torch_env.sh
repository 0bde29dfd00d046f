# Sourced by scripts/setup_env.sh (the main venv) and scripts/setup_engine.sh (the GRPO engine venvs): the one
# place that decides which torch a venv gets and keeps it.  The caller defines log() and die().
#
#   has_gpu                      true when nvidia-smi sees a GPU (a CUDA machine)
#   torch_id PY                  "<version> <cuda version or none>" of PY's torch, or nothing
#   ensure_torch PY GPU_SPEC     keep PY's torch if it imports; else install $PROUIE_TORCH_SPEC, or GPU_SPEC on a
#                                CUDA machine, or the CPU build (torch==2.13.0) without CUDA; sets TORCH_VERSION
#                                and TORCH_CUDA ("none" for a CPU build)
#   write_torch_constraint FILE  a pip constraints file pinning that torch exactly (resolving other packages can
#                                then never swap it, e.g. for a CUDA torch + ~15 nvidia-* packages)
# $PROUIE_TORCH_INDEX_URL, if set, is passed to the one torch install as --index-url.

CPU_TORCH_DEFAULT="torch==2.13.0"

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

torch_id() {
    "$1" - <<'EOF' 2>/dev/null || true
import torch
print(torch.__version__, torch.version.cuda or "none")
EOF
}

ensure_torch() {
    local py="$1" gpu_spec="$2" torch spec why t0=$SECONDS
    torch="$(torch_id "$py")"
    if [[ -n "$torch" ]]; then
        log "keeping the torch already in $(dirname "$(dirname "$py")"): $torch"
    else
        if [[ -n "${PROUIE_TORCH_SPEC:-}" ]]; then
            spec="$PROUIE_TORCH_SPEC"; why="PROUIE_TORCH_SPEC"
        elif has_gpu; then
            spec="$gpu_spec"; why="nvidia-smi found a GPU: CUDA torch"
        else
            spec="$CPU_TORCH_DEFAULT"; why="no CUDA GPU: CPU torch"
        fi
        local idx=()
        [[ -n "${PROUIE_TORCH_INDEX_URL:-}" ]] && idx=(--index-url "$PROUIE_TORCH_INDEX_URL")
        log "installing $spec ($why)"
        "$py" -m pip --disable-pip-version-check install ${idx[@]+"${idx[@]}"} "$spec"
        torch="$(torch_id "$py")"
        [[ -n "$torch" ]] || die "torch does not import after 'pip install $spec'"
        log "torch $torch installed ($((SECONDS - t0)) s)"
    fi
    TORCH_VERSION="${torch% *}"
    TORCH_CUDA="${torch#* }"
    if [[ "$TORCH_CUDA" != none ]] && ! has_gpu; then
        log "WARNING: torch $TORCH_VERSION is a CUDA build but no GPU is visible. For a CPU build, delete the venv"
        log "         and rerun with PROUIE_TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu (or PROUIE_TORCH_SPEC)."
    fi
}

write_torch_constraint() {
    printf '# written by scripts/%s: keep the torch build chosen for this machine\ntorch==%s\n' \
        "$(basename "$0")" "$TORCH_VERSION" >"$1"
}
