#!/usr/bin/env bash
# The GPU checks of this project as one script, for a lent CUDA machine:
#   bash benchmarks/device_check.sh OUTDIR
# Runs the gpu-marked tests and the generator benchmarks; writes logs and JSON lines to OUTDIR.
set -uo pipefail
out=${1:-${OUT:-/tmp/device_out}}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba-cache
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import sys, torch, numpy, numba, triton; print(sys.version.split()[0], 'torch', torch.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__, 'triton', triton.__version__)"
} 2>&1 | tee "$out/env.txt"
timeout 240 python3 -m pytest -q -m gpu $(grep -l "mark.gpu" tests/test_*.py) -p no:cacheprovider -o addopts="" 2>&1 | tee "$out/gpu_tests.txt"
gen=${GENERATORS:-all}
for g in ${gen/all/visualatom rcdb fractaldb 1p-frac}; do
  timeout 150 python3 benchmarks/generate.py --generator "$g" --classes 10 --reference-images 0 \
    --gpu-classes 33 --gpu-instances 1000 2>&1 | tee -a "$out/bench.jsonl"
done
timeout 200 python3 benchmarks/gpu_profile.py --classes 17 2>&1 | tee "$out/profile.txt"
