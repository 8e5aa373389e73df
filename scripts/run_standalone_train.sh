#!/bin/sh
# Train MiDaS on one device:  sh scripts/run_standalone_train.sh DEVICE_ID [CONFIG] [--key value ...]
#   DEVICE_ID  device index (ignored on CPU); CONFIG  YAML file (default: config.yaml of the repository).
#   Further arguments override config keys, e.g. --model_type midas_v21_small --batch_size 8, or
#   --weights FILE to fine-tune (the model type is then read from the file).
# Logs go to the console and to <output_dir>/train_rank0.log. The exit status is the training's.
usage() {
    echo "usage: sh $0 DEVICE_ID [CONFIG] [--key value ...]" >&2
    exit 2
}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/launcher_common.sh"
launcher_arguments "$@"
shift "$LAUNCHER_SHIFT"
DEVICE_ID=$VALUE
case $DEVICE_ID in
    ''|*[!0-9]*) echo "error: DEVICE_ID must be a non-negative integer, got '$DEVICE_ID'" >&2; usage ;;
esac
use_virtualenv
command -v python >/dev/null 2>&1 || { echo "error: python not found on PATH" >&2; exit 2; }
exec python "$ROOT/midas_train.py" --config "$CONFIG" --device_id "$DEVICE_ID" "$@"
