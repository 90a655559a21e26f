#!/usr/bin/env bash
# Download, here, the wheels a lent GPU machine lacks, into .whl/ (git-ignored), for the device
# scripts (benchmarks/device_issue24.sh and the others install .whl/*.whl to /tmp/site first).
#
#     bash benchmarks/device_wheels.sh          # then name .whl in the device tool's carry
#
# The device image (Python 3.12, torch, timm, numba, scikit-learn, opencv, rich, pyyaml, jinja2,
# scipy, pandas, matplotlib: /work/.library/device/KINDS.md) lacks sweep's study database and
# schema packages. The versions are this machine's .venv's, so the device runs what the tests
# ran.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
ver() { "$py" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
pkgs=(optuna sqlalchemy alembic colorlog mako mlxtend pydantic pydantic-core
      annotated-types typing-inspection plotly cmaes)
mkdir -p .whl
for p in "${pkgs[@]}"; do
  v=$(ver "$p")
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d .whl "$p==$v"
done
ls -1 .whl
du -sh .whl
