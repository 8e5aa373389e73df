#!/bin/sh
# End-to-end training demo on CPU, no downloads:  sh scripts/run_demo.sh [OUTPUT_DIR]
#  1. renders a synthetic RGB-D dataset in the ReDWeb layout (exact depth: textured planes, boxes, spheres);
#  2. trains midas_v21_small from scratch for DEMO_STEPS steps (a few minutes), logging the falling loss;
#  3. validates on the held-out synthetic split (AbsRel, delta>1.25);
#  4. writes depth maps of a few held-out images with midas_run.py;
#  5. saves the loss curve as OUTPUT_DIR/loss_curve.png.
# Environment: DEMO_STEPS (default 300), DEMO_SCENES (default 160), DEMO_CROP (default 128), DEMO_BATCH (4).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-demo_output}
STEPS=${DEMO_STEPS:-300}
SCENES=${DEMO_SCENES:-160}
CROP=${DEMO_CROP:-128}
BATCH=${DEMO_BATCH:-4}
for value in "$STEPS" "$SCENES" "$CROP" "$BATCH"; do
    case $value in
        ''|*[!0-9]*|0) echo "error: DEMO_STEPS, DEMO_SCENES, DEMO_CROP and DEMO_BATCH must be positive integers" >&2; exit 2 ;;
    esac
done
if [ -n "${VIRTUAL_ENV:-}" ]; then
    PATH="$VIRTUAL_ENV/bin:$PATH"
fi
command -v python >/dev/null 2>&1 || { echo "error: python not found on PATH" >&2; exit 2; }
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
cd "$ROOT" || exit 2
set -e

echo "== 1/5 synthetic dataset ($SCENES scenes) in $OUT/synthetic"
python -c "import sys, src; from demo.synthetic import write_synthetic_dataset
write_synthetic_dataset(sys.argv[1], int(sys.argv[2]), rows=$CROP + 32, cols=$CROP * 4 // 3 + 32, seed=0)" \
    "$OUT/synthetic" "$SCENES"

echo "== 2/5 training midas_v21_small for $STEPS steps (batch $BATCH, ${CROP}x$CROP crops)"
python midas_train.py --model_type midas_v21_small --train_datasets "{format: redweb, path: $OUT/synthetic}" \
    --crop_size "$CROP" --val_fraction 0.1 --train.batch_size "$BATCH" --train.max_steps "$STEPS" \
    --train.lr_schedule constant --train.encoder_lr 3.0e-4 --train.decoder_lr 3.0e-4 \
    --train.log_every 5 --train.val_every "$((STEPS / 3))" --train.ckpt_every "$STEPS" \
    --train.output_dir "$OUT/train"

echo "== 3/5 held-out validation: see the 'validation at step' lines above (also in $OUT/train/loss_history.csv)"

echo "== 4/5 depth maps of two real photos (scikit-image samples) and held-out synthetic images in $OUT/depth"
mkdir -p "$OUT/photos"
python -c "import os, sys, shutil, cv2, skimage.data, src
from src.data.readers import ReDWebReader
from src.data.sampling import split_indices
reader = ReDWebReader(sys.argv[1])
for index in split_indices(len(reader), 0.1)[1][:4]:
    shutil.copy(reader.image_paths[index], sys.argv[2])
for name in ('coffee', 'chelsea'):
    cv2.imwrite(os.path.join(sys.argv[2], name + '.jpg'), getattr(skimage.data, name)()[..., ::-1])" \
    "$OUT/synthetic" "$OUT/photos"
python midas_run.py --model_type midas_v21_small --model_weights "$OUT/train/midas_v21_small-step$(printf %08d "$STEPS").ckpt" \
    --input_path "$OUT/photos" --output_path "$OUT/depth" --colormap true

echo "== 5/5 loss curve"
python -c "import sys, src; from src.training.curves import plot_loss_curve
first, last = plot_loss_curve(sys.argv[1], sys.argv[2])
print(f'training loss (moving average) fell from {first:.4f} to {last:.4f}; curve: {sys.argv[2]}')
sys.exit(0 if last < first else 1)" "$OUT/train/loss_history.csv" "$OUT/loss_curve.png"
echo "demo finished: $OUT"
