#!/bin/sh
# Metric fine-tuning demo on CPU, no downloads:  sh scripts/run_metric_demo.sh [OUTPUT_DIR]
#  1. renders synthetic RGB-D scenes in the folder layout (images/ + depth/*.npy: exact depth in metres);
#  2. trains a small DPT-Hybrid (fewer blocks and channels than the released one; same code) as the metric
#     model type dpt_hybrid_nyu (metric head with the card's DPT-NYU constants) with silog for DEMO_STEPS steps;
#  3. prints the held-out metric AbsRel (metres, no alignment) of the initial network and of the final checkpoint.
# Environment: DEMO_STEPS (default 150), DEMO_SCENES (default 40), DEMO_CROP (default 64), DEMO_BATCH (4).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-metric_demo_output}
STEPS=${DEMO_STEPS:-150}
SCENES=${DEMO_SCENES:-40}
CROP=${DEMO_CROP:-64}
BATCH=${DEMO_BATCH:-4}
. "$ROOT/scripts/demo_common.sh"
set -e

echo "== 1/3 synthetic scenes with metric depth ($SCENES) in $OUT/synthetic"
python scripts/make_synthetic_dataset.py --output "$OUT/synthetic" --num_scenes "$SCENES" \
    --height "$((CROP + 32))" --width "$((CROP + 32))" --seed 0 --layouts folder

echo "== 2/3 metric fine-tuning of a small dpt_hybrid_nyu for $STEPS steps (silog, ${CROP}x$CROP crops)"
M=dpt_hybrid_nyu
python midas_train.py --model_type $M --$M.image_size "$CROP" --$M.embed_dim 32 --$M.depth 4 --$M.num_heads 2 \
    --$M.features 16 --$M.hooks 1 3 --$M.reassemble_channels 32 32 --$M.resnet_stem 16 \
    --$M.resnet_widths 32 64 128 --$M.resnet_layers 1 2 1 --$M.norm_groups 4 \
    --train_datasets "{format: folder, path: $OUT/synthetic, values: depth, kind: metric}" \
    --crop_size "$CROP" --loss silog --val_fraction 0.2 --batch_size "$BATCH" --max_steps "$STEPS" \
    --lr_schedule constant --encoder_lr 1.0e-3 --decoder_lr 1.0e-3 --log_every 25 --val_every 0 \
    --ckpt_every "$STEPS" --num_workers 1 --output_dir "$OUT/train"

echo "== 3/3 held-out metric AbsRel (initial network, then $OUT/train/$M-step$(printf %08d "$STEPS").ckpt)"
python -m demo.heldout "$OUT/train" "$OUT/train/$M-step$(printf %08d "$STEPS").ckpt"
