# Shared by run_standalone_train.sh and run_distribute_train.sh (sourced once ROOT and usage() are defined).

# launcher_arguments "$@": reads "VALUE [CONFIG] [--key value ...]" and sets
#   VALUE           the first argument (DEVICE_ID or RANK_SIZE; the caller checks it);
#   CONFIG          the second argument unless it is a --flag (default: config.yaml of the repository);
#   LAUNCHER_SHIFT  how many arguments that took (shift them away: the rest are config overrides).
# Calls usage without arguments; exits 2 with one error line when CONFIG is not a file.
launcher_arguments() {
    [ $# -ge 1 ] || usage
    VALUE=$1
    CONFIG=$ROOT/config.yaml
    LAUNCHER_SHIFT=1
    case ${2:-} in
        ''|--*) ;;
        *) CONFIG=$2; LAUNCHER_SHIFT=2 ;;
    esac
    if [ ! -f "$CONFIG" ]; then
        echo "error: config file not found: $CONFIG" >&2
        exit 2
    fi
}

# use_virtualenv: an activated virtualenv's python (and msrun) come first on PATH, also for child processes.
use_virtualenv() {
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        PATH="$VIRTUAL_ENV/bin:$PATH"
        export PATH
    fi
}
