#!/bin/sh
# Train MiDaS on one device:  sh scripts/run_standalone_train.sh DEVICE_ID [CONFIG] [--key value ...]
#   DEVICE_ID  device index (ignored on CPU); CONFIG  YAML file (default: config.yaml of the repository).
#   Further arguments override config keys, e.g. --model_type midas_v21_small --train.batch_size 8.
# Logs go to the console and to <train.output_dir>/train_rank0.log. The exit status is the training's.
usage() {
    echo "usage: sh $0 DEVICE_ID [CONFIG] [--key value ...]" >&2
    exit 2
}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || usage
DEVICE_ID=$1
shift
case $DEVICE_ID in
    ''|*[!0-9]*) echo "error: DEVICE_ID must be a non-negative integer, got '$DEVICE_ID'" >&2; usage ;;
esac
CONFIG=$ROOT/config.yaml
case ${1:-} in
    ''|--*) ;;
    *) CONFIG=$1; shift ;;
esac
if [ ! -f "$CONFIG" ]; then
    echo "error: config file not found: $CONFIG" >&2
    exit 2
fi
if [ -n "${VIRTUAL_ENV:-}" ]; then
    PATH="$VIRTUAL_ENV/bin:$PATH"
fi
command -v python >/dev/null 2>&1 || { echo "error: python not found on PATH" >&2; exit 2; }
exec python "$ROOT/midas_train.py" --config "$CONFIG" --device_id "$DEVICE_ID" "$@"
