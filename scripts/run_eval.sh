#!/bin/sh
# Zero-shot evaluation on the MiDaS test sets (results in eval_output_dir: val.json, metrics.json, per_image.csv).
#   sh scripts/run_eval.sh DEVICE_ID DATA_NAME [CKPT_PATH] [CONFIG_PATH] [MODEL_TYPE]
# DATA_NAME: one set (DIW, ETH3D, ...) or all; midas_eval.py checks it against its registry. Without
# CKPT_PATH/CONFIG_PATH the weights of config.yaml are used; pass "" to skip an optional argument.
# MODEL_TYPE (argument, or the environment variable): --model_type, e.g. midas_v21_small; by default the type
# is read from the weights file. The device type is the config's device_target. Set PYTHON to choose the
# interpreter. Exit status: that of midas_eval.py (0 complete, 1 something failed, 2 bad arguments).

usage() {
    echo "usage: sh $0 DEVICE_ID DATA_NAME [CKPT_PATH] [CONFIG_PATH] [MODEL_TYPE]" >&2
    echo "  DATA_NAME: an evaluation set or all (see: python midas_eval.py --help)" >&2
    exit 2
}

fail() {
    echo "error: $1" >&2
    exit 2
}

absolute_path() {
    case "$1" in
        /*) echo "$1" ;;
        *) echo "$(pwd)/$1" ;;
    esac
}

[ $# -ge 2 ] && [ $# -le 5 ] || usage
DEVICE_ID=$1
DATA_NAME=$2
case "$DEVICE_ID" in
    ''|*[!0-9]*) fail "DEVICE_ID must be a non-negative integer, got '$DEVICE_ID'" ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd) || fail "cannot locate the repository root"
CKPT_PATH=${3:-}
CONFIG_PATH=${4:-}
MODEL_TYPE=${5:-${MODEL_TYPE:-}}
set -- --data_name "$DATA_NAME" --device_id "$DEVICE_ID"
if [ -n "$CKPT_PATH" ]; then
    [ -f "$CKPT_PATH" ] || fail "checkpoint not found: $CKPT_PATH"
    set -- "$@" --weights "$(absolute_path "$CKPT_PATH")"
fi
if [ -n "$CONFIG_PATH" ]; then
    [ -f "$CONFIG_PATH" ] || fail "config file not found: $CONFIG_PATH"
    set -- "$@" --config "$(absolute_path "$CONFIG_PATH")"
fi
if [ -n "$MODEL_TYPE" ]; then
    set -- "$@" --model_type "$MODEL_TYPE"
fi

export DEVICE_ID
echo "midas_eval: device $DEVICE_ID, data $DATA_NAME${CKPT_PATH:+, weights $CKPT_PATH}${CONFIG_PATH:+, config $CONFIG_PATH}${MODEL_TYPE:+, model $MODEL_TYPE}" >&2
"${PYTHON:-python}" "$ROOT/midas_eval.py" "$@"
exit $?
