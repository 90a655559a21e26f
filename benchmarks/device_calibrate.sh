#!/usr/bin/env bash
# One slice of the GPU calibration of search_spaces/calibrate_freq.yaml inside a device time
# budget, resumable across machines (a lent GPU comes for minutes; the calibration needs most of
# an hour):
#   bash benchmarks/device_calibrate.sh OUTDIR [BUDGET_S]
#
# The study database travels with the work: .device-state/calibrate.db (name .device-state in
# the device tool's carry; ignore it in .git/info/exclude) is copied in, `sweep calibrate`
# resumes it until the budget is nearly spent (interrupted trials are failed and retried by the
# next slice), then the database, the log and the analysis so far go to OUTDIR. Copy
# OUTDIR/calibrate.db back to .device-state/ before the next slice. The log's trial-minutes,
# summed over slices, are the calibration's GPU time.
# PROFILE (default gpu) and WORKERS (default: the profile's) choose the run; wheels in .whl/
# (optuna, sqlalchemy, alembic, colorlog, mako, greenlet, mlxtend) are installed first.
set -uo pipefail
out=${1:-${OUT:-/tmp/device_out}}
budget=${2:-560}
profile=${PROFILE:-gpu}
mkdir -p "$out" /tmp/cal
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba-cache
db=/tmp/cal/calibrate.db
[ -f .device-state/calibrate.db ] && cp .device-state/calibrate.db "$db"
url="sqlite:///$db"
workers=()
[ -n "${WORKERS:-}" ] && workers=(--workers "$WORKERS")
# SIGINT first (the launcher stops its workers), SIGKILL 20 s later if it has not.
timeout -s INT -k 20 $((budget - SECONDS - 45)) python3 -m sweep calibrate \
  search_spaces/calibrate_freq.yaml --profile "$profile" --storage "$url" "${workers[@]}" \
  >"$out/calibrate.log" 2>&1
echo "calibrate rc $? after $SECONDS s" | tee -a "$out/calibrate.log"
tail -15 "$out/calibrate.log"
timeout 30 python3 -m sweep calibrate search_spaces/calibrate_freq.yaml --profile "$profile" \
  --storage "$url" --analyze-only --json >"$out/analysis.json" 2>"$out/analysis.err"
echo "analysis rc $?"
cp "$db" "$out/calibrate.db"
