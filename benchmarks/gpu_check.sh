#!/usr/bin/env bash
# The image policy (two 84 px frames through a ResNet-18, the paper's visuomotor setting) on GPUs:
# trains it for a few hundred steps on one GPU, then on all of them with torchrun (DDP, NCCL),
# evaluates each run on 10 test seeds and prints samples/s and score; then the image policy's
# samples/s on one GPU with channels-last and bf16 autocast side by side (course_lib.bench).
#
#   bash benchmarks/gpu_check.sh                 # 300 steps, global batch 256, float32
#   STEPS=500 BATCH=128 AMP=1 CHANNELS_LAST=1 bash benchmarks/gpu_check.sh
#
# Environment: STEPS (300), BATCH (256; rounded down to a multiple of the GPU count), SDE (vp),
# AMP (0; 1: --amp), CHANNELS_LAST (0; 1: --channels-last; on one H200 both were slower than
# float32, figures/cuda_check.md), WORKERS (4: --num-workers, DataLoader
# worker processes per GPU), OUT (runs/gpu-check), PYTHON (.venv/bin/python if present, else python).
# A few hundred steps check the pipeline and measure throughput; they do not train a policy that
# pushes the T well (expect a score near that of an untrained policy).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
STEPS=${STEPS:-300}
BATCH=${BATCH:-256}
SDE=${SDE:-vp}
AMP=${AMP:-0}
CHANNELS_LAST=${CHANNELS_LAST:-0}
WORKERS=${WORKERS:-4}
OUT=${OUT:-runs/gpu-check}

NGPU=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')
if [ "$NGPU" -lt 1 ]; then
    echo "gpu_check: no CUDA GPU is visible to PyTorch ($("$PYTHON" -c 'import torch; print(torch.__version__)')):" \
         "this check needs an NVIDIA GPU and a CUDA build of torch; on CPU use 'make bench'" >&2
    exit 1
fi
BATCH=$(( BATCH / NGPU * NGPU ))
AMP_FLAG=$([ "$AMP" = 1 ] && echo --amp || true)
CL_FLAG=$([ "$CHANNELS_LAST" = 1 ] && echo --channels-last || true)
echo "gpu_check: $NGPU GPU(s): $("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0))')," \
     "image policy, $SDE, $STEPS steps, global batch $BATCH${AMP_FLAG:+, bf16 autocast}${CL_FLAG:+," \
     "channels-last}, $WORKERS loader workers per GPU"

run_case() {  # run_case N_GPUS
    local n=$1 dir="$OUT/gpus-$1"
    local args=(train --obs pixels --sde "$SDE" --steps "$STEPS" --batch-size "$BATCH"
                --num-workers "$WORKERS" --run-dir "$dir" --fresh --no-progress $AMP_FLAG $CL_FLAG)
    if [ "$n" = 1 ]; then
        "$PYTHON" -m course_lib "${args[@]}" --device cuda:0 > "$dir.train.json"
    else
        "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node "$n" \
            -m course_lib "${args[@]}" --device auto > "$dir.train.log"
    fi
    "$PYTHON" -m course_lib evaluate "$dir/policy.pt" --episodes 10 --device cuda:0 \
        --json "$dir.eval.json" --no-progress > /dev/null
    "$PYTHON" - "$dir" "$n" <<'PY'
import json, statistics, sys
from course_lib.train import read_loss_csv
run_dir, n = sys.argv[1], int(sys.argv[2])
rates = read_loss_csv(f"{run_dir}/loss.csv")["samples_per_s"][1:] or [float("nan")]
score = json.load(open(f"{run_dir}.eval.json"))["mean_score"]
rate = statistics.median(rates)
print(f"{n} GPU(s): {rate:8.0f} samples/s ({rate / n:.0f} per GPU), score on 10 seeds {score:.3f}")
PY
}

mkdir -p "$OUT"
run_case 1
if [ "$NGPU" -gt 1 ]; then
    run_case "$NGPU"
fi
"$PYTHON" -c 'from course_lib.bench import format_image_throughput as f, image_throughput_rows as r
print(f(r(["cuda:0"], seconds=5.0)))'
