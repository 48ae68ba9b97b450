#!/usr/bin/env python3
"""Live conversion benchmark: compute per block (median, p99) against the block length, for the full-size v2-40k
model with pitch (seeded random weights in the reference's sizes: the same compute as a trained one), per pitch
method, and the smallest block that keeps up (p99 under the block) with its algorithmic latency.

HuBERT-base and RMVPE have random weights in their real architectures (no hub here), FCPE its real weights. The
input is speech from the 10-minute benchmark set, fed block by block as a microphone would deliver it (without
waiting), so the figures are the engine's compute alone; the browser path adds the microphone's chunks and
the round trips (tests/test_browser.py prints those).

    .venv/bin/python bench/live.py [--methods pm,rmvpe,fcpe] [--blocks 0.1,0.2,0.3,0.5] [--context 1.0]
        [--seconds 8] [--precision auto] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import dataset, machine, today  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="pm,rmvpe,fcpe")
    ap.add_argument("--blocks", default="0.1,0.2,0.3,0.5")
    ap.add_argument("--context", type=float, default=1.0)
    ap.add_argument("--crossfade", type=float, default=0.05)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    from extract import random_weights

    from rvc.audio.io import decode_audio
    from rvc.inference.convert import ConvertConfig
    from rvc.inference.converter import Converter
    from rvc.live.config import LiveConfig
    from rvc.live.engine import LiveEngine, convert_stream
    from tests.test_live import small_model

    hub, rmvpe = random_weights(HERE / "out")
    model = small_model(HERE / "out" / "live_v2_40k.pth", full=True)
    ds, _ = dataset(10)
    x = decode_audio(ds / "take_02_m48.wav", 16000).samples[: int(args.seconds * 16000)]
    print(f"{today()} {machine()}; torch threads {torch.get_num_threads()}")
    print(f"input {len(x) / 16000:.1f} s of speech; context {args.context} s, crossfade {args.crossfade} s")
    print("| pitch | block ms | latency ms | compute median ms | compute p99 ms | keeps up | precision |")
    print("|---|---|---|---|---|---|---|")
    smallest: dict[str, str] = {}
    for method in [m for m in args.methods.split(",") if m]:
        cfg = ConvertConfig(f0_method=method, embedder=hub, rmvpe=rmvpe, device=args.device, precision=args.precision)
        conv = Converter(model, cfg)
        for block in sorted(float(b) for b in args.blocks.split(",")):
            live = LiveConfig(block=block, crossfade=min(args.crossfade, block), context=args.context, silence_db=-100)
            engine = LiveEngine(conv, live)
            convert_stream(engine, x[: int(16000 * max(1.0, 4 * block))])  # warm-up
            engine = LiveEngine(conv, live)
            convert_stream(engine, x)
            s = engine.stats.summary(block * 1000)
            print(
                f"| {method} | {block * 1000:.0f} | {engine.latency_ms:.0f} | {s['compute_ms_median']:.0f} | "
                f"{s['compute_ms_p99']:.0f} | {'yes' if s['keeps_up'] else 'no'} | {conv.precision_note} |",
                flush=True,
            )
            if s["keeps_up"] and method not in smallest:
                smallest[method] = f"{block * 1000:.0f} ms block, {engine.latency_ms:.0f} ms algorithmic latency"
    for method in args.methods.split(","):
        print(f"smallest block that keeps up with {method}: {smallest.get(method, 'none of those measured')}")


if __name__ == "__main__":
    main()
