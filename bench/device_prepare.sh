#!/usr/bin/env bash
# Prepare, on this machine, what bench/device_check.sh needs on a lent GPU machine (the `device`
# tool: JAX and PyTorch with CUDA there, no TensorFlow, no Keras, no internet):
#   .whl/      the wheels that machine lacks (Keras, its namex and optree, simplejpeg, and serve's
#              Starlette, uvicorn, python-multipart), for its Python (3.12; PYTHON_VERSION=3.11
#              fetches them for this machine's, to try the check here);
#   .devdata/  the real images the benchmarks time (../shared does not travel): dogscats-1k
#              (bench/gpu.py's fine-tune) and dogscats/valid (bench/serve_load.py's uploads).
# Both folders are git-ignored; about 35 MB together, under the 64 MiB a call may carry.
#
#     bash bench/device_prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
version="${PYTHON_VERSION:-3.12}"
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    "keras==$(python3 - <<'PY'
import re
print(re.search(r"^keras==([\w.]+)", open("requirements.txt").read(), re.M).group(1))
PY
)" namex optree simplejpeg starlette uvicorn python-multipart
shared="${SHARED_DATA:-../shared/data}"
rm -rf .devdata && mkdir -p .devdata/dogscats
cp -r "$shared/dogscats-1k" .devdata/dogscats-1k
cp -r "$shared/dogscats/valid" .devdata/dogscats/valid
du -sh .whl .devdata
