#!/bin/sh
# Self-supervised stereo training demo on CPU, no downloads:  sh scripts/run_stereo_demo.sh [OUTPUT_DIR]
#  1. renders synthetic rectified stereo pairs in the stereo layout (left/, right/ and disparity/<stem>.npy: the
#     left view's exact disparity in pixels);
#  2. trains a small midas_v21_small (fewer channels and blocks than the released one; same code) with the stereo
#     head from scratch on the pairs, without their disparities (--loss stereo, --lr_schedule halving);
#  3. prints the held-out disparity error (EPE, pixels) and the correlation with the true disparity of the
#     initial network and of the final checkpoint (python -m demo.heldout), and pictures each held-out pair in
#     OUTPUT_DIR/heldout_maps/<stem>.png: left view | predicted disparity | true disparity (one colour scale).
# Environment: DEMO_STEPS (default 1200), DEMO_SCENES (160, 20 % held out), DEMO_CROP (image height, default 64;
# the width is twice it), DEMO_BATCH (4), DEMO_SEED (training seed: initial weights and batch order; default 1),
# DEMO_LR (learning rate of encoder and decoder, default 3.0e-4; the paper's 1e-4 learns less in this short run).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-stereo_demo_output}
STEPS=${DEMO_STEPS:-1200}
SCENES=${DEMO_SCENES:-160}
CROP=${DEMO_CROP:-64}
BATCH=${DEMO_BATCH:-4}
SEED=${DEMO_SEED:-1}
LR=${DEMO_LR:-3.0e-4}
. "$ROOT/scripts/demo_common.sh"
set -e

echo "== 1/3 synthetic stereo pairs ($SCENES, ${CROP}x$((CROP * 2))) in $OUT/synthetic"
python scripts/make_synthetic_dataset.py --output "$OUT/synthetic" --num_scenes "$SCENES" \
    --height "$CROP" --width "$((CROP * 2))" --seed 0 --layouts stereo

echo "== 2/3 self-supervised stereo training of a small midas_v21_small for $STEPS steps (seed $SEED)"
M=midas_v21_small
python midas_train.py --model_type $M --$M.channel_multiplier 0.5 --$M.depth_multiplier 0.5 --$M.features 32 \
    --train_datasets "{format: stereo, path: $OUT/synthetic}" --loss stereo --crop_size "$((CROP * 2)),$CROP" \
    --val_fraction 0.2 --batch_size "$BATCH" --max_steps "$STEPS" --seed "$SEED" \
    --lr_schedule halving --encoder_lr "$LR" --decoder_lr "$LR" --log_every 50 --val_every 0 \
    --ckpt_every "$STEPS" --num_workers 1 --output_dir "$OUT/train"

echo "== 3/3 held-out disparity (initial network, then $OUT/train/$M-step$(printf %08d "$STEPS").ckpt)"
python -m demo.heldout "$OUT/train" "$OUT/train/$M-step$(printf %08d "$STEPS").ckpt" --maps "$OUT/heldout_maps"
