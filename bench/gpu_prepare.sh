#!/usr/bin/env bash
# Run here (not on the device) before bench/gpu_check.sh when the conversion benchmark should run there too: the
# device machine lacks faiss, soxr and parselmouth, and ../shared does not travel. This fetches their Python 3.12
# wheels into .whl/ and the 60 s benchmark input into .gpu/ (both ignored by git, about 34 MB together), then
# prints the device call, which carries them.
set -euo pipefail
cd "$(dirname "$0")/.."
for d in /.whl/ /.gpu/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
rm -rf .whl && mkdir -p .whl .gpu
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
  platforms+=(--platform "$p")
done
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl faiss-cpu==1.15.1 soxr==1.1.0 praat-parselmouth==0.4.7
.venv/bin/python -c 'import sys; sys.path.insert(0, "bench"); import infer; print(infer.speech_60s())' >/dev/null
cp bench/out/infer_input60.npy .gpu/
du -sh .whl .gpu
echo 'device call: run(command="bash bench/gpu_check.sh", carry=[".whl", ".gpu"], timeout_s=540)'
