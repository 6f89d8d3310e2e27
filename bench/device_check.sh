#!/usr/bin/env bash
# The one prepared run on a lent GPU machine, after `bash bench/device_prepare.sh` here:
#
#     run(command="bash bench/device_check.sh", carry=[".whl", ".devdata"], timeout_s=540)
#
# 1. bench/gpu.py on JAX: VGG16 inference images/s and share of the device's peak, then the
#    course's fine-tune on dogscats-1k (record both in bench/RESULTS.md with the device's name);
# 2. bench/serve_load.py on JAX at 224x224: 16 concurrent clients against one at a time (issue
#    22's 3x goal), then the same at --max-batch 32.
# Logs go to $OUT (they come back) and to the output. Each step has its own time limit, so a slow
# one cannot take the other's result with it.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "device_check.sh: the wheels in .whl/ did not install (run bench/device_prepare.sh here)"; exit 1; }
# no preallocation: the load script builds its model in one process and serves it from another
export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
out="${OUT:-/tmp/device_check}"; mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$out/device.txt"
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" 2>&1 | tee -a "$out/device.txt"
timeout "${GPU_SECONDS:-300}" python3 bench/gpu.py --data .devdata/dogscats-1k ${GPU_ARGS:-} 2>&1 | tee "$out/gpu.log"
timeout "${SERVE_SECONDS:-150}" python3 bench/serve_load.py .devdata/dogscats/valid ${SERVE_ARGS:-} 2>&1 | tee "$out/serve.log"
timeout "${SERVE_SECONDS:-150}" python3 bench/serve_load.py .devdata/dogscats/valid --max-batch 32 --clients 32 ${SERVE_ARGS:-} 2>&1 | tee "$out/serve32.log"
