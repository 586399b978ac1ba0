#!/usr/bin/env bash
# Issue 8's GPU call, in one go (at most ~4.3 minutes; every step is time-boxed):
#   1. bench/recipe_sweep.py: recipe variants of UNet width 32 at 128 px for 60 epochs, the
#      epoch count a quiet 2-core CPU trains in 10 minutes (the CPU recipe, measured on the GPU
#      because the CPU here is shared); stops starting variants at $SWEEP_BUDGET s.
#   2. bench/results.py: both models at 256 px, pet_border then pet_only, with the sweep's
#      recommended recipe (the defaults if the sweep recommended nothing), 60 epochs each,
#      within 3 minutes of training per run (the limit; the table marks any run over
#      it); stops starting runs at $RESULTS_BUDGET s.
# Run from the repository root:  OUT=/some/folder bash bench/recipe_gpu.sh
# Results (Markdown and JSON, rewritten after every run) land in $OUT; stdout has the same tables.
set -u
DATA=${DATA:-.devdata/oxford-pet-sample}
OUT=${OUT:-/tmp/recipe-gpu-out}
SCRATCH=${SCRATCH:-/dev/shm/petseg-recipe}   # runs and the decoded cache in RAM: checkpoint writes stay cheap
WORKERS=${WORKERS:-8}
SWEEP_BUDGET=${SWEEP_BUDGET:-105}     # seconds; each step's hard limit is its budget + 30
RESULTS_BUDGET=${RESULTS_BUDGET:-85}  # estimated: 85 s fits both models under pet_border, ~170 s all four runs
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$SCRATCH"
export PETSEG_CACHE="$SCRATCH/cache"

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
"$PY" -c "import torch, albumentations; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'albumentations', albumentations.__version__)"

timeout $((SWEEP_BUDGET + 30)) "$PY" bench/recipe_sweep.py --data "$DATA" --runs "$SCRATCH/sweep" --device cuda --workers "$WORKERS" \
    --model unet --width 32 --image_size 128 --batch_size 16 --epochs 60 \
    --budget_s "$SWEEP_BUDGET" --grace_s 15 --json "$OUT/sweep128.json" --out "$OUT/sweep128.md"
echo "recipe_sweep exit $?"

timeout $((RESULTS_BUDGET + 35)) "$PY" bench/results.py --data "$DATA" --runs "$SCRATCH/results" --device cuda --workers "$WORKERS" \
    --image_size 256 --width 32 --batch_size 16 --epochs 60 --train_limit_s 180 --target 0.90 \
    --recipe_from "$OUT/sweep128.json" --budget_s "$RESULTS_BUDGET" --grace_s 15 --json "$OUT/gpu256.json" --out "$OUT/gpu256.md"
echo "results exit $?"
