#!/usr/bin/env python3
"""fp32 against bf16 training at equal steps on the benchmark voice, judged by `rvc compare`.

The 10-minute set of ../shared/bench/make_dataset.py is preprocessed and extracted once (40k, v2, pm, the seeded
random-weight HuBERT of bench/extract.py: no hub here), the experiment copied, and each copy trained on the CPU
for the same number of steps from the same seed, one in fp32 and one in bf16 autocast (from scratch: the
pretrained G/D cannot be downloaded here), then both exported and compared on the same held-out pieces.

    .venv/bin/python bench/train_precision.py [--steps 130] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import ENV, ROOT, dataset, machine, timed, today  # noqa: E402

RVC = [sys.executable, "-m", "rvc"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=130)
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()
    ds, _ = dataset(10)
    sys.path.insert(0, str(ROOT))
    from extract import random_weights

    hub, _ = random_weights(HERE / "out")
    env = {**ENV, "RVC_OFFLINE": "1"}
    logs = Path(tempfile.mkdtemp(prefix="rvc-precision-"))
    try:
        timed([*RVC, "create", "fp32", "--logs-dir", str(logs)], env=env)
        timed([*RVC, "preprocess", "fp32", str(ds), "--logs-dir", str(logs)], env=env)
        cmd = [*RVC, "extract", "fp32", "--f0-method", "pm", "--embedder", str(hub), "--logs-dir", str(logs)]
        timed(cmd, env=env)
        shutil.copytree(logs / "fp32", logs / "bf16")
        models, walls = [], {}
        for precision in ("fp32", "bf16"):
            cmd = [*RVC, "train", precision, "--max-steps", str(args.steps), "--epochs", "1000", "--no-pretrained"]
            cmd += ["--batch-size", str(args.batch_size), "--precision", precision, "--no-eval", "--save-every", "1000"]
            t = time.perf_counter()
            timed([*cmd, "--latest-only", "--logs-dir", str(logs)], env=env)
            walls[precision] = time.perf_counter() - t
            out = logs / f"{precision}.pth"
            timed([*RVC, "export", precision, "--out", str(out), "--logs-dir", str(logs)], env=env)
            models.append(str(out))
            print(f"{precision}: {args.steps} steps in {walls[precision]:.0f} s", flush=True)
        cmd = [*RVC, "compare", *models, "--experiment", "fp32", "--f0-method", "pm", "--embedder", str(hub)]
        _, _, out = timed([*cmd, "--device", "cpu", "--json", "--logs-dir", str(logs)], env=env)
        (HERE / "out").mkdir(exist_ok=True)
        (HERE / "out" / "train_precision.json").write_text(out)
        print(f"{today()} {machine()}; {args.steps} steps, batch {args.batch_size}, from scratch")
        for row in json.loads(out):
            name = Path(row["model"]).stem
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float) and k != "seconds")
            print(f"{name}: {walls[name]:.0f} s of training; {metrics}")
    finally:
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
