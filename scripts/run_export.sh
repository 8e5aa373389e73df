#!/bin/sh
# Export MiDaS v2.1 and verify the exported graph against the checkpoint (files land in the current folder).
#   sh scripts/run_export.sh MODEL_TYPE CKPT_FILE FILE_FORMAT [HEIGHT WIDTH [BATCH_SIZE [FILE_NAME]]]
#   MODEL_TYPE: midas_v21 | midas_v21_small     FILE_FORMAT: MINDIR | ONNX | AIR (Ascend only)
#   HEIGHT WIDTH: positive multiples of 32 (default: 384 for midas_v21, 256 for midas_v21_small)
#   DEVICE_TARGET (environment, default CPU): set DEVICE_TARGET=Ascend for AIR.
if [ $# -lt 3 ] || [ $# -gt 7 ] || [ $# -eq 4 ]; then
    echo "usage: sh $0 MODEL_TYPE CKPT_FILE FILE_FORMAT [HEIGHT WIDTH [BATCH_SIZE [FILE_NAME]]]" >&2
    exit 2
fi
if [ ! -f "$2" ]; then
    echo "error: $2: weights file not found" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec python "$ROOT/midas_export.py" --model_type "$1" --ckpt_file "$2" --file_format "$3" \
    ${4:+--height "$4"} ${5:+--width "$5"} --batch_size "${6:-1}" ${7:+--file_name "$7"} \
    --device_target "${DEVICE_TARGET:-CPU}"
