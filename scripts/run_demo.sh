#!/bin/sh
# End-to-end training demo on CPU, no downloads:  sh scripts/run_demo.sh [OUTPUT_DIR]
#  1. renders a synthetic RGB-D dataset in the ReDWeb layout (exact depth: textured planes, boxes, spheres);
#  2. trains midas_v21_small from scratch for DEMO_STEPS steps (a few minutes), logging the falling loss;
#  3. reports the held-out AbsRel of the initial network and of the final checkpoint (demo/heldout.py);
#  4. writes depth maps of four real photos (scripts/sample_photos.py) and four held-out scenes with midas_run.py;
#  5. saves the loss curve as OUTPUT_DIR/loss_curve.png; exit status 1 if the training loss did not fall.
# Environment: DEMO_STEPS (default 300), DEMO_SCENES (default 160), DEMO_CROP (default 128), DEMO_BATCH (4).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-demo_output}
STEPS=${DEMO_STEPS:-300}
SCENES=${DEMO_SCENES:-160}
CROP=${DEMO_CROP:-128}
BATCH=${DEMO_BATCH:-4}
. "$ROOT/scripts/demo_common.sh"
set -e

echo "== 1/5 synthetic dataset ($SCENES scenes) in $OUT/synthetic"
python scripts/make_synthetic_dataset.py --output "$OUT/synthetic" --num_scenes "$SCENES" \
    --height "$((CROP + 32))" --width "$((CROP * 4 / 3 + 32))" --seed 0

echo "== 2/5 training midas_v21_small for $STEPS steps (batch $BATCH, ${CROP}x$CROP crops)"
python midas_train.py --model_type midas_v21_small --train_datasets "{format: redweb, path: $OUT/synthetic}" \
    --crop_size "$CROP" --val_fraction 0.1 --batch_size "$BATCH" --max_steps "$STEPS" \
    --lr_schedule constant --encoder_lr 3.0e-4 --decoder_lr 3.0e-4 \
    --log_every 5 --val_every "$((STEPS / 3))" --ckpt_every "$STEPS" --output_dir "$OUT/train"
CKPT="$OUT/train/midas_v21_small-step$(printf %08d "$STEPS").ckpt"

echo "== 3/5 held-out validation (AbsRel of the initial network and of $CKPT)"
HELDOUT=$(python -m demo.heldout "$OUT/train" "$CKPT")
echo "$HELDOUT"

echo "== 4/5 depth maps of real photos (scikit-image samples) and held-out synthetic images in $OUT/depth"
python scripts/sample_photos.py "$OUT/photos"
python -c "import shutil, sys, src
from src.data.readers import ReDWebReader
from src.data.sampling import split_indices
reader = ReDWebReader(sys.argv[1])
for index in split_indices(len(reader), 0.1)[1][:4]:
    shutil.copy(reader.image_paths[index], sys.argv[2])" "$OUT/synthetic" "$OUT/photos"
python midas_run.py --weights "$CKPT" --input_path "$OUT/photos" --output_path "$OUT/depth" --colormap

echo "== 5/5 loss curve"
STATUS=0
python -c "import sys, src; from src.training.curves import plot_loss_curve
trend = plot_loss_curve(sys.argv[1], sys.argv[2])
print(f'{trend.label} went from {trend.values[0]:.4f} to {trend.values[-1]:.4f}; curve: {sys.argv[2]}')
sys.exit(0 if trend.values[-1] < trend.values[0] else 'error: the training loss did not fall')" "$OUT/train/loss_history.csv" "$OUT/loss_curve.png" \
    || STATUS=$?
echo "demo finished: $OUT"
echo "$HELDOUT"
exit $STATUS
