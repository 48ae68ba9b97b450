#!/usr/bin/env bash
# Issue #4's GPU checks in one call of the `device` tool, when a task is lent a machine:
#   run(command="bash bench/gpu_check.sh", timeout_s=480)
# Nothing to carry: the machine's python3 holds torch (CUDA), scipy, tensorboard and psutil, which is all that
# training needs (the data are made there, see bench/train_gpu.py). The log comes back as $OUT/gpu.log.
# At most 7.5 minutes (a start of 1–2 min on top leaves room for a rerun within the 15-minute lease): five timed configurations, the out-of-memory check, three loss-parity runs, then a compiled
# run with the time left (each part is skipped, and says so, when the budget would not cover it).
set -uo pipefail
out=${OUT:-/tmp/rvc-gpu-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  timeout 450 python3 bench/train_gpu.py --budget 420 "$@"
} 2>&1 | tee "$out/gpu.log"
