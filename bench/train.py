#!/usr/bin/env python3
"""Step 3 benchmark: seconds per training step and peak memory, v2-40k with pitch, reference model sizes.

The 10-minute dataset of ../shared/bench/make_dataset.py goes through Step 2a and 2b (pm pitch, a random-weight
HuBERT-base: same shapes as the real one), then `python -m rvc train --max-steps N` runs as one process from
scratch (no pretrained weights here); steady-state seconds per step come from metrics.jsonl (first steps
skipped), peak RSS from the process tree.

    .venv/bin/python bench/train.py [--batch-size 4] [--steps 8] [--device cpu|cuda] [--precision fp32|bf16|fp16]

Reference trainer on 2 CPU cores (../shared/bench/baseline.md): 21.6 s per step at batch 4 (26.8 s in epoch 1),
6.6 GB largest process / 8.6 GB over its processes. Target: >= 1.0x its steps/s on CPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, dataset, machine, timed, today  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--minutes", type=float, default=10)
    args = ap.parse_args()
    ds, _ = dataset(args.minutes)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from extract import random_weights

    hub, _ = random_weights(ROOT / "bench" / "out")
    logs = Path(tempfile.mkdtemp(prefix="rvc-bench-"))
    rvc = [sys.executable, "-m", "rvc"]
    try:
        timed([*rvc, "create", "bench", "--logs-dir", str(logs)])
        timed([*rvc, "preprocess", "bench", str(ds), "--logs-dir", str(logs)])
        timed(
            [
                *rvc,
                "extract",
                "bench",
                "--f0-method",
                "pm",
                "--embedder",
                str(hub),
                "--device",
                "cpu",
                "--logs-dir",
                str(logs),
            ]
        )
        cmd = [
            *rvc,
            "train",
            "bench",
            "--no-pretrained",
            "--max-steps",
            str(args.steps),
            "--batch-size",
            str(args.batch_size),
        ]
        cmd += [
            "--device",
            args.device,
            "--precision",
            args.precision,
            "--save-every",
            "1000",
            "--no-eval",
            "--log-every",
            "1",
            "--logs-dir",
            str(logs),
        ]
        wall, peak, _ = timed(cmd)
        rows = [json.loads(line) for line in (logs / "bench" / "metrics.jsonl").read_text().splitlines()]
        per_step = [r["sec_per_step"] for r in rows if "sec_per_step" in r]
        steady = statistics.median(per_step[2:]) if len(per_step) > 3 else statistics.median(per_step)
        print(f"machine: {machine()}")
        print(f"date: {today()}")
        print(f"v2-40k with pitch, batch {args.batch_size}, {args.device} {args.precision}, {len(rows)} logged steps")
        print(
            f"seconds per step: first {per_step[0]:.2f}, steady (median after 2) {steady:.2f}; items/s {args.batch_size / steady:.2f}"
        )
        print(f"whole process: {wall:.1f} s for {args.steps} steps (startup, data, one save included)")
        print(f"peak RSS, process tree: {peak / 1e9:.2f} GB (reference 6.6 GB largest process, 8.6 GB in all)")
        print(f"reference: 21.6 s per step at batch 4 on 2 cores -> {21.6 / steady:.2f}x its speed")
    finally:
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
