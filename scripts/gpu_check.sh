#!/usr/bin/env bash
# The GPU check (README "On a GPU"); scripts/gpu_check.py does the work:
#   bash scripts/gpu_check.sh --plan           # here, on the CPU machine: with .venv's python
#   bash scripts/gpu_check.sh --out "$OUT"     # on the GPU machine, .gpu-wheels/ carried: with its python3
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=python3
case " $* " in
    *" --plan "* | *" --download "* | *" --rehearse "*)
        if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; fi ;;
esac
exec "$PY" "$ROOT/scripts/gpu_check.py" "$@"
