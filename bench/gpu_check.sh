#!/usr/bin/env bash
# The GPU checks in one call of the `device` tool, when a task is lent a machine:
#   training only:          run(command="bash bench/gpu_check.sh", timeout_s=480)
#   with conversion too:    bash bench/gpu_prepare.sh here first, then
#                           run(command="bash bench/gpu_check.sh", carry=[".whl", ".gpu"], timeout_s=540)
# The machine's python3 holds torch (CUDA), scipy, tensorboard, psutil and transformers: training needs nothing
# more (its data are made there, see bench/train_gpu.py); conversion needs the carried wheels and input.
# Training takes at most 6–7 minutes (five timed configurations, the out-of-memory check, three loss-parity runs,
# then a compiled run with the time left: each part is skipped, and says so, when the budget would not cover it);
# conversion (rmvpe and pm, 60 s of speech, 3 runs each) about 2 more. The log comes back as $OUT/gpu.log.
set -uo pipefail
out=${OUT:-/tmp/rvc-gpu-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
convert=0
if [[ -d .whl && -f .gpu/infer_input60.npy ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl &&
    export PYTHONPATH="$PYTHONPATH:/tmp/site" && convert=1
  mkdir -p bench/out && cp .gpu/infer_input60.npy bench/out/
fi
budget=$((convert ? 360 : 420))
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  timeout $((budget + 30)) python3 bench/train_gpu.py --budget "$budget" "$@"
  if ((convert)); then
    RVC_OFFLINE=1 timeout 150 python3 bench/infer.py --device cuda --methods rmvpe,pm --parts convert --runs 3 \
      --max-wait 0
  fi
} 2>&1 | tee "$out/gpu.log"
