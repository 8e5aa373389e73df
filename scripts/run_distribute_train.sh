#!/bin/sh
# Data-parallel MiDaS training on RANK_SIZE devices of this machine through MindSpore's msrun launcher
# (Ascend: HCCL, GPU: NCCL, CPU: MCCL; no rank table, no copies of the source tree):
#   sh scripts/run_distribute_train.sh RANK_SIZE [CONFIG] [--key value ...]
# RANK_SIZE  workers on this machine; CONFIG  YAML file (default: config.yaml); further arguments override
# config keys. device_target comes from the config; each worker takes the device of its local rank.
# batch_size is per rank (global batch = total workers x batch_size).
#
# Environment (all optional):
#   LOG_DIR      msrun log folder, one worker_<rank>.log per rank (default: ./msrun_logs)
#   MASTER_ADDR  address of the scheduler node (default 127.0.0.1)
#   MASTER_PORT  its port (default 8118)
#   WORKER_NUM   total workers over all machines (default RANK_SIZE: one machine)
#   NODE_RANK    index of this machine (default 0)
#   CLUSTER_TIME_OUT  seconds to wait for all workers to join (default 600)
# Multi-machine: run the same command on every machine with the same MASTER_ADDR (an address of machine 0
# reachable by all), MASTER_PORT and WORKER_NUM, and NODE_RANK=0,1,... e.g. two machines with 8 devices:
#   machine 0: MASTER_ADDR=10.0.0.1 WORKER_NUM=16 NODE_RANK=0 sh scripts/run_distribute_train.sh 8 my.yaml
#   machine 1: MASTER_ADDR=10.0.0.1 WORKER_NUM=16 NODE_RANK=1 sh scripts/run_distribute_train.sh 8 my.yaml
# The dataset paths must exist on every machine. Exit status: msrun's (non-zero if any worker failed).
usage() {
    echo "usage: sh $0 RANK_SIZE [CONFIG] [--key value ...]" >&2
    exit 2
}
is_count() {
    case $1 in
        ''|*[!0-9]*|0) return 1 ;;
    esac
    return 0
}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/launcher_common.sh"
launcher_arguments "$@"
shift "$LAUNCHER_SHIFT"
RANK_SIZE=$VALUE
is_count "$RANK_SIZE" || { echo "error: RANK_SIZE must be a positive integer, got '$RANK_SIZE'" >&2; usage; }
WORKER_NUM=${WORKER_NUM:-$RANK_SIZE}
is_count "$WORKER_NUM" || { echo "error: WORKER_NUM must be a positive integer, got '$WORKER_NUM'" >&2; exit 2; }
if [ "$WORKER_NUM" -lt "$RANK_SIZE" ]; then
    echo "error: WORKER_NUM ($WORKER_NUM) is smaller than RANK_SIZE ($RANK_SIZE)" >&2
    exit 2
fi
LOG_DIR=${LOG_DIR:-msrun_logs}
export GLOG_v=${GLOG_v:-2}   # MindSpore C++ logs: warnings and errors only
use_virtualenv   # msrun starts workers with the python found on PATH
command -v msrun >/dev/null 2>&1 || { echo "error: msrun not found on PATH (it comes with mindspore)" >&2; exit 2; }
mkdir -p "$LOG_DIR" || exit 2
echo "msrun: $RANK_SIZE worker(s) here, $WORKER_NUM in total, logs in $LOG_DIR/worker_<rank>.log"
msrun --worker_num="$WORKER_NUM" --local_worker_num="$RANK_SIZE" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
      --master_port="${MASTER_PORT:-8118}" --node_rank="${NODE_RANK:-0}" --log_dir="$LOG_DIR" --join=True \
      --cluster_time_out="${CLUSTER_TIME_OUT:-600}" \
      "$ROOT/midas_train.py" --config "$CONFIG" --distribute true "$@"
STATUS=$?
if [ $STATUS -ne 0 ]; then
    echo "error: distributed training failed (exit status $STATUS); see $LOG_DIR/worker_*.log" >&2
fi
exit $STATUS
