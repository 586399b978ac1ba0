#!/usr/bin/env bash
# Issue 19 item 7, "the sweep's first CPU job": each encoder x adam/adamw (dropout 0), and dropout
# 0 vs 0.2 with adamw (cheapest encoder first); short CPU runs, NOT the recipe's targets.
# Prints one line per run: name, wall seconds. Results: petseg runs --runs "$RUNS".
#   bench/encoder_grid_cpu.sh DATA RUNS [EPOCHS] [IMAGE_SIZE] [MAX_TRAIN_IMAGES] [FIRST_RUN_TO_SKIP...]
set -euo pipefail
DATA=${1:?data folder}; RUNS=${2:?runs folder}; EPOCHS=${3:-3}; SIZE=${4:-64}; MAX_TRAIN=${5:-100000}
PETSEG=${PETSEG:-petseg}
common=(--data_path "$DATA" --runs "$RUNS" --image_size "$SIZE" --epochs "$EPOCHS" --batch_size 16
        --max_train_images "$MAX_TRAIN"
        --workers 0 --amp off --seed 42)
SKIP=" ${*:6} "
run() {  # NAME FLAGS...
  local name=$1; shift
  if [[ "$SKIP" == *" $name "* ]]; then return; fi
  local t0; t0=$(date +%s.%N)
  $PETSEG train "${common[@]}" --run_name "$name" "$@" > "$RUNS/$name.log" 2>&1 || echo "$name FAILED"
  printf '%s %.0f s\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)"
}
mkdir -p "$RUNS"
# cheapest first, so that a cut-off grid still answers the optimizer and dropout questions
run resnet18-adam-d0 --model resnet18_unet --optimizer adam --weight_decay 0
run resnet18-adamw-d0 --model resnet18_unet --optimizer adamw --weight_decay 0.01
run resnet18-adamw-d0.2 --model resnet18_unet --optimizer adamw --weight_decay 0.01 --dropout 0.2
for enc in resnet34 densenet121 resnet50; do
  run "$enc-adam-d0" --model "${enc}_unet" --optimizer adam --weight_decay 0
done
for enc in resnet34 densenet121 resnet50; do
  run "$enc-adamw-d0" --model "${enc}_unet" --optimizer adamw --weight_decay 0.01
done
for enc in resnet34 densenet121 resnet50; do
  run "$enc-adamw-d0.2" --model "${enc}_unet" --optimizer adamw --weight_decay 0.01 --dropout 0.2
done
