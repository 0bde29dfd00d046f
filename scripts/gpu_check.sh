#!/usr/bin/env bash
# The DE engines end to end on one GPU: for the day a GPU machine is at hand (NOT yet run on a GPU; see README).
#   bash scripts/gpu_check.sh            # from the repository root of a clone, on a machine with one CUDA GPU
# What it does:
#   1. the environments: the main one (make venv: CUDA torch, LLaMA-Factory), EasyR1's with vLLM 0.11.0 (from
#      $EASYR1_SRC, default ../shared/upstream/EasyR1 next to the clone; the machine may reach only package
#      registries) and verl's with verl[vllm];
#   2. the DE stages of the smoke recipe (the tiny Qwen3, bundled data, no SFT stages: de_ner -> de_re -> de_ee,
#      then eval on the bundled test slices) with EasyR1 on one GPU, then the same with verl, each under 10 minutes
#      (`timeout`), each in runs/gpu_check_<engine>/;
#   3. prints each run's stage timings and mean rewards (summary.json) and the set-up times.
# Without flash-attn (it needs nvcc to build) EasyR1 runs with worker.actor.padding_free=false (set below when
# flash_attn does not import in its environment).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[gpu_check] %s\n' "$*" >&2; }
die() { printf '[gpu_check] ERROR: %s\n' "$*" >&2; exit 1; }

nvidia-smi -L >/dev/null 2>&1 || die "no GPU visible (nvidia-smi -L fails): this check needs one CUDA GPU"
export EASYR1_SRC="${EASYR1_SRC:-$(cd "$ROOT/.." && pwd)/shared/upstream/EasyR1}"
[[ -f "$EASYR1_SRC/setup.py" ]] || die "no EasyR1 checkout at EASYR1_SRC=$EASYR1_SRC"
RUN_LIMIT_S="${GPU_CHECK_LIMIT_S:-600}"

t0=$SECONDS
make venv
log "main environment ready ($((SECONDS - t0)) s)"
for engine in easyr1 verl; do
    t=$SECONDS
    make engine ENGINE="$engine"
    log "$engine environment ready ($((SECONDS - t)) s)"
done

extra_easyr1=()
if ! .engines/easyr1/bin/python -c "import flash_attn" 2>/dev/null; then
    log "EasyR1 without flash-attn: worker.actor.padding_free=false"
    extra_easyr1=("+grpo.config.worker.actor.padding_free=false")
fi

status=0
for engine in easyr1 verl; do
    run_dir="runs/gpu_check_$engine"
    rm -rf "$run_dir"
    extra=()
    [[ "$engine" == easyr1 ]] && extra=(${extra_easyr1[@]+"${extra_easyr1[@]}"})
    t=$SECONDS
    log "DE stages with $engine on one GPU (limit ${RUN_LIMIT_S} s) -> $run_dir"
    if HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 timeout "$RUN_LIMIT_S" .venv/bin/python launch/run_pipeline.py \
        +experiment=smoke "grpo=${engine}_smoke" cluster.gpus_per_node=1 \
        "pipeline.skip=[cm_ner,cm_ner_re,cm_all,sa]" "pipeline.run_dir=$run_dir" ${extra[@]+"${extra[@]}"}; then
        log "$engine: done in $((SECONDS - t)) s"
    else
        log "$engine: FAILED after $((SECONDS - t)) s (see $run_dir/<stage>/stage.log)"
        status=1
    fi
    [[ -f "$run_dir/summary.json" ]] && .venv/bin/python - "$run_dir/summary.json" <<'EOF'
import json
import sys

summary = json.load(open(sys.argv[1]))
for row in summary["stages"]:
    print(f"  {row['stage']:<8} {row.get('seconds', 0):7.1f} s  mean reward {row.get('mean_reward')}  "
          f"steps {row.get('steps')}  handoff {(row.get('handoff') or {}).get('max_logit_difference')}")
EOF
done
log "total $((SECONDS - t0)) s"
exit $status
