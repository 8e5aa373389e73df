#!/bin/sh
# Export MiDaS v2.1 and verify the exported graph against the checkpoint (files land in the current folder).
#   sh scripts/run_export.sh CKPT_FILE FILE_FORMAT [HEIGHT WIDTH [BATCH_SIZE [FILE_NAME]]]
#   CKPT_FILE: .ckpt or official .pt      FILE_FORMAT: MINDIR | ONNX | AIR (Ascend only)
#   HEIGHT WIDTH: positive multiples of 32 (default: the network side, 384 for midas_v21, 256 for midas_v21_small)
# Environment (optional): MODEL_TYPE (--model_type; default: read from CKPT_FILE); DEVICE_TARGET (default CPU;
# Ascend for AIR); PYTHON (the interpreter). Exit status: that of midas_export.py (2: bad arguments).
if [ $# -lt 2 ] || [ $# -gt 6 ] || [ $# -eq 3 ]; then
    echo "usage: sh $0 CKPT_FILE FILE_FORMAT [HEIGHT WIDTH [BATCH_SIZE [FILE_NAME]]]" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "error: $1: weights file not found" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec "${PYTHON:-python}" "$ROOT/midas_export.py" --weights "$1" --file_format "$2" \
    ${3:+--height "$3"} ${4:+--width "$4"} --batch_size "${5:-1}" ${6:+--file_name "$6"} \
    ${MODEL_TYPE:+--model_type "$MODEL_TYPE"} --device_target "${DEVICE_TARGET:-CPU}"
