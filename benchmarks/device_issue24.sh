#!/usr/bin/env bash
# Issue 24 (fresh data that keeps up) on a lent CUDA machine as ONE script inside a time budget:
#   bash benchmarks/device_issue24.sh OUTDIR [BUDGET_S]
#
# Steps in order of priority; each starts only when its minimum fits in what is left, each is cut
# by `timeout` (SIGINT first for the sweep commands, so finished trials stay in their database),
# and each writes its files under OUTDIR as it goes, so a timeout keeps what finished:
#   T. the gpu-marked tests, tests/test_fresh_data.py first (the overlapped render's bytes and
#      training on CUDA): tests.txt;
#   R. the fresh-data rate: benchmarks/fresh_overlap.py on the GPU, the gpu preset's pre-training
#      with a fixed dataset, plain fresh data and overlapped fresh data (the target:
#      overlap_vs_fixed >= 0.90): rate.jsonl;
#   N. the gpu preset's noise budget: `sweep noise search_spaces/paper_freq.yaml --contrast
#      band-10-20` (freq [0, 20] against [10, 20], the README's cpu pair) on a D x T design
#      (NOISE_DESIGN, default "2 2"), resumable: noise.db, noise.json, noise.log;
#   P. the paired effect of fresh data: benchmarks/proxy.py on seeds 0-2 (PAIRED_SEEDS), the gpu
#      preset with a fixed dataset (a.jsonl) and with fresh data (f.jsonl), the two processes
#      sharing the GPU (their accuracies are exact; their rates are shared-GPU rates: R has the
#      rate), the scratch baselines shared: the headline's std over seeds, the gain over scratch
#      and their paired differences;
#   C. a slice of the calibration, search_spaces/calibrate_freq.yaml's gpu profile, resumable:
#      calibrate.db, calibrate.log, analysis.json (only with 150 s or more left);
# then summary.json (benchmarks/summarize_issue24.py) and timeline.txt.
#
# Resuming across machines: .device-state/noise.db and .device-state/calibrate.db (name
# .device-state in the device tool's carry) are copied in first; copy OUTDIR's back after a run.
# Wheels in .whl/ (benchmarks/device_wheels.sh downloads them here: optuna, sqlalchemy, pydantic, ...) are installed
# to /tmp/site first when present (the device image may lack them).
#
# SWEEP_DEVICE_TINY=1: a dry run of the whole script on the CPU: the same steps on a tiny recipe
# (4 classes x 16 images at 16 px, 2 epochs, no fine-tuning), the study files shrunk to match.
set -uo pipefail
out=${1:-${OUT:-/tmp/device_out}}
budget=${2:-540}
tiny=${SWEEP_DEVICE_TINY:-0}
mkdir -p "$out" /tmp/i24
out=$(cd "$out" && pwd)
if [ "$tiny" = 1 ] && [ -x .venv/bin/python ]; then py=${PYTHON:-$PWD/.venv/bin/python}; else py=${PYTHON:-python3}; fi
if ls .whl/*.whl >/dev/null 2>&1; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba-cache
left() { echo $((budget - SECONDS)); }
log() { echo "[$SECONDS s] $*" | tee -a "$out/timeline.txt"; }
# cap WANT: the seconds a step may take: WANT, or what is left less a reserve for the summary
cap() { local l=$(( $(left) - 15 )); echo $(( $1 < l ? $1 : l )); }
: >"$out/timeline.txt"

if [ "$tiny" = 1 ]; then
  device=cpu profile=cpu
  # the tiny recipe, as --set arguments and as a study file's proxy.recipe
  tiny_sets="--set classes=4 --set instances=16 --set img_size=16 --set patch_size=4 --set embed_dim=32 --set depth=1 --set num_heads=2 --set pretrain_epochs=2 --set batch_size=32 --set finetune_epochs=0 --set headline=linear --set downstreams=[digits] --set downstream_train=300 --set downstream_test=200 --set probe_epochs=20"
  "$py" - "$out" <<'EOF'
import sys, yaml
recipe = {"classes": 4, "instances": 16, "img_size": 16, "patch_size": 4, "embed_dim": 32,
          "depth": 1, "num_heads": 2, "pretrain_epochs": 2, "batch_size": 32,
          "finetune_epochs": 0, "headline": "linear", "downstreams": ["digits"],
          "downstream_train": 300, "downstream_test": 200, "probe_epochs": 20}
for src, dst in (("search_spaces/paper_freq.yaml", "/tmp/i24/noise.yaml"),
                 ("search_spaces/calibrate_freq.yaml", "/tmp/i24/calibrate.yaml")):
    d = yaml.safe_load(open(src))
    d["proxy"]["recipe"] = recipe
    cal = d.get("calibration")
    if cal:  # 10 bands x 2 levels x 2 seeds, the least it takes
        cal["profiles"]["cpu"].update(configs=10, seeds=[0, 1], top_k=2, levels=[
            {"name": "L1", "recipe": {"pretrain_epochs": 1}},
            {"name": "L2", "recipe": {}}])
    yaml.safe_dump(d, open(dst, "w"), sort_keys=False)
EOF
  noise_file=/tmp/i24/noise.yaml cal_file=/tmp/i24/calibrate.yaml
  rate_args="--repeats 1 $tiny_sets --set pretrain_epochs=3"
  paired_sets="$tiny_sets --set finetune_epochs=1 --set finetune_batch=64 --set headline=finetune"
else
  device=cuda profile=gpu tiny_sets="" paired_sets=""
  noise_file=search_spaces/paper_freq.yaml cal_file=search_spaces/calibrate_freq.yaml
  rate_args="--repeats ${RATE_REPEATS:-2}"
fi
{
  [ "$tiny" = 1 ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$py" -c "import sys, os, torch, timm; print(sys.version.split()[0], 'torch', torch.__version__, 'timm', timm.__version__, 'cores', os.cpu_count(), 'cuda', torch.cuda.is_available())"
  echo "tiny=$tiny device=$device profile=$profile budget=$budget"
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

# T -------------------------------------------------------------------------------------------
log "T: gpu tests"
timeout "$(cap 90)" "$py" -m pytest -q -m gpu tests/test_fresh_data.py \
  $(grep -l "mark.gpu" tests/test_*.py | grep -v test_fresh_data) \
  -p no:cacheprovider -o addopts="" -ra >"$out/tests.txt" 2>&1
log "T: rc $?"; tail -3 "$out/tests.txt"

# R -------------------------------------------------------------------------------------------
if [ "$(left)" -gt 60 ]; then
  log "R: fresh-data rate (fixed / plain / overlapped)"
  timeout "$(cap 150)" "$py" benchmarks/fresh_overlap.py --device "$device" --profile "$profile" \
    $rate_args --label issue24 >"$out/rate.jsonl" 2>/tmp/i24/rate.err
  log "R: rc $?"; tail -3 /tmp/i24/rate.err
else
  log "R: skipped ($(left) s left)"
fi

# N -------------------------------------------------------------------------------------------
read -r nd nt <<<"${NOISE_DESIGN:-2 2}"
[ -f .device-state/noise.db ] && [ ! -f "$out/noise.db" ] && cp .device-state/noise.db "$out/noise.db"
if [ "$(left)" -gt 90 ]; then
  log "N: noise budget, ${nd} data x ${nt} training seeds"
  timeout -s INT -k 20 "$(cap 150)" "$py" -m sweep noise "$noise_file" --contrast band-10-20 \
    --data-seeds "$nd" --train-seeds "$nt" --profile "$profile" --device "$device" \
    --storage "sqlite:///$out/noise.db" --workers 2 --no-progress >"$out/noise.log" 2>&1
  log "N: rc $?"; tail -5 "$out/noise.log"
  timeout 30 "$py" -m sweep noise "$noise_file" --contrast band-10-20 --data-seeds "$nd" \
    --train-seeds "$nt" --profile "$profile" --storage "sqlite:///$out/noise.db" \
    --analyze-only --json >"$out/noise.json" 2>>"$out/noise.log"
  log "N: analysis rc $?"
else
  log "N: skipped ($(left) s left)"
fi

# P -------------------------------------------------------------------------------------------
if [ "$(left)" -gt 90 ]; then
  tp=$(cap 170)
  log "P: paired fresh-data effect, seeds ${PAIRED_SEEDS:-0,1,2}, ${tp} s"
  for arm in a f; do
    fresh=""; [ "$arm" = f ] && fresh="--set fresh_data=true"
    # shellcheck disable=SC2086
    timeout "$tp" "$py" benchmarks/proxy.py --label "$([ "$arm" = f ] && echo fresh || echo fixed)" \
      --seeds "${PAIRED_SEEDS:-0,1,2}" --no-raw --profile "$profile" --device "$device" \
      --cache /tmp/i24/cache $paired_sets $fresh >"$out/$arm.jsonl" 2>"/tmp/i24/p-$arm.err" &
    [ "$arm" = a ] && sleep 1  # the fixed arm first: the scratch baselines it caches
  done
  wait
  log "P: done"; tail -n 2 /tmp/i24/p-a.err /tmp/i24/p-f.err
else
  log "P: skipped ($(left) s left)"
fi

# C -------------------------------------------------------------------------------------------
if [ "$(left)" -ge 150 ]; then
  [ -f .device-state/calibrate.db ] && [ ! -f "$out/calibrate.db" ] && cp .device-state/calibrate.db "$out/calibrate.db"
  log "C: calibration slice, $(( $(left) - 60 )) s"
  timeout -s INT -k 20 "$(( $(left) - 60 ))" "$py" -m sweep calibrate "$cal_file" \
    --profile "$profile" --device "$device" --storage "sqlite:///$out/calibrate.db" \
    --no-progress >"$out/calibrate.log" 2>&1
  log "C: rc $?"; tail -5 "$out/calibrate.log"
  timeout 30 "$py" -m sweep calibrate "$cal_file" --profile "$profile" \
    --storage "sqlite:///$out/calibrate.db" --analyze-only --json >"$out/analysis.json" \
    2>>"$out/calibrate.log"
  log "C: analysis rc $?"
else
  log "C: skipped ($(left) s left)"
fi

{ for f in /tmp/i24/*.err; do echo "== $f"; tail -20 "$f"; done; } >"$out/stderr.txt" 2>&1
timeout 20 "$py" benchmarks/summarize_issue24.py "$out" >"$out/summary.json" 2>>"$out/stderr.txt"
log "end (summary rc $?)"
