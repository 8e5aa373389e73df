# Shared by run_demo.sh and run_metric_demo.sh, sourced once ROOT, OUT, STEPS, SCENES, CROP and BATCH are set:
# checks that the DEMO_* sizes are positive integers, puts an activated virtualenv's python first on PATH,
# creates OUT (made absolute) and enters the repository; exits 2 with one error line otherwise.
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
