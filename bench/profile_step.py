#!/usr/bin/env python3
"""Where one training step's time goes: full-size v2-40k with pitch, a random batch of the reference's shapes
(3.7 s pieces), seconds per step and the top operators from torch.profiler.

    .venv/bin/python bench/profile_step.py [--batch-size 4] [--steps 3] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step_side import step_batch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--frames", type=int, default=370)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    import torch

    from rvc.core.config import load_model_config
    from rvc.models.synthesizer import SynthesizerConfig
    from rvc.steps.train.config import TrainConfig
    from rvc.steps.train.step import new_state, train_step

    torch.manual_seed(0)
    hps = load_model_config("40k", "v2")
    cfg = SynthesizerConfig.from_hparams(hps, "v2", True)
    s = new_state(hps, cfg, TrainConfig(precision=args.precision), torch.device("cpu"))
    x = step_batch(args.batch_size, args.frames, hps["data"]["hop_length"], hps["data"]["filter_length"])
    train_step(s, x)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        train_step(s, x)
        times.append(time.perf_counter() - t0)
    print(
        f"threads {torch.get_num_threads()}  s/step " + " ".join(f"{t:.2f}" for t in times),
        f"median {statistics.median(times):.2f}",
    )
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train_step(s, x)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))


if __name__ == "__main__":
    main()
