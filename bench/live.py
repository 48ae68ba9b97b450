#!/usr/bin/env python3
"""Live conversion benchmark: compute per block (median, p99) against the block length, for the full-size v2-40k
model with pitch (seeded random weights in the reference's sizes: the same compute as a trained one), per pitch
method, and the smallest block that keeps up (p99 under the block) with its algorithmic latency.

HuBERT-base and RMVPE have random weights in their real architectures (no hub here), FCPE its real weights. The
input is speech from the 10-minute benchmark set, fed block by block as a microphone would deliver it (without
waiting), so the figures are the engine's compute alone.

``--browser``: the end to end of the Live tab's WebSocket path instead, as the page measures it (capture to
playback, plus the crossfade and search the engine holds back, plus the audio devices' latency Chromium reports):
the app served on this machine with the same model, headless Chromium's fake microphone playing the same speech
in real time, Start pressed, the page's figures read after ``--seconds`` of playback, per method and block.

    .venv/bin/python bench/live.py [--methods pm,rmvpe,fcpe] [--blocks 0.1,0.2,0.3,0.5] [--context 1.0]
        [--seconds 8] [--precision auto] [--device cpu] [--browser]
"""

from __future__ import annotations

import argparse
import subprocess
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
    ap.add_argument("--browser", action="store_true", help="the end to end of the Live tab in headless Chromium")
    ap.add_argument("--weights-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.weights_only:
        from extract import random_weights

        from tests.test_live import small_model

        random_weights(HERE / "out")
        small_model(HERE / "out" / "live_v2_40k.pth", full=True)
        return
    if args.browser:
        browser(args)
        return

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


def browser(args: argparse.Namespace) -> None:
    """The Live tab's end to end, measured by the page, for each method and block."""
    import shutil
    import tempfile

    from playwright.sync_api import expect, sync_playwright

    import app
    from rvc.audio.io import decode_audio
    from tests.helpers import write_wav
    from tests.test_app import launch
    from tests.test_browser import CHROMIUM, fake_microphone, live_settings

    # the weights made in a child process: a thread of this one that has run torch (this one serves the app) would
    # slow the app's own torch thread, as a real app's main thread does not (rvc/live/sessions.py, LiveSessions)
    subprocess.run([sys.executable, __file__, "--weights-only"], check=True)
    hub, model = HERE / "out" / "hubert_random", HERE / "out" / "live_v2_40k.pth"
    ds, _ = dataset(10)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "weights").mkdir()
    shutil.copy(model, tmp / "weights" / "live.pth")
    mic = write_wav(tmp / "mic.wav", decode_audio(ds / "take_02_m48.wav", 48000).samples[: 48000 * 20], 48000)
    demo, url = launch(app.AppSettings(logs_dir=tmp / "logs", live_sessions=1))
    print(f"{today()} {machine()}; the app and Chromium on this machine; context {args.context} s")
    print("| pitch | block ms | algorithmic ms | end to end ms (page) | of which devices ms | gaps "
          "| compute median / p99 ms | CPU: server / Chromium and the rest |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=fake_microphone(mic))
            page = chromium.new_context(permissions=["microphone"]).new_page()
            page.goto(url, wait_until="load")
            for method in [m for m in args.methods.split(",") if m]:
                for block in sorted(float(b) for b in args.blocks.split(",")):
                    live_settings(page, hub, expect, method=method, block=block, context=args.context)
                    page.evaluate("() => { if (window.rvcLive) window.rvcLive.latest = null; }")  # the last run's
                    page.locator("#live-ws-start").click()
                    cpu0 = _cpu()
                    page.wait_for_function(
                        f"() => window.rvcLive && window.rvcLive.latest && window.rvcLive.latest.played_s > {args.seconds}",
                        timeout=int(1000 * (120 + 4 * args.seconds)),
                    )
                    r = page.evaluate("() => window.rvcLive.latest")
                    server, others = (b - a for a, b in zip(cpu0, _cpu(), strict=True))
                    s = r["server"]
                    print(
                        f"| {method} | {block * 1000:.0f} | {s['algorithmic_latency_ms']:.0f} | {r['e2e_ms']:.0f} | "
                        f"{r['device_ms']:.0f} | {r['gaps']} | {s['compute_ms_median']:.0f} / {s['compute_ms_p99']:.0f} "
                        f"| {server / (server + others):.0%} / {others / (server + others):.0%} |",
                        flush=True,
                    )
                    page.locator("#live-ws-stop").click()
                    expect(page.locator("#live-readout")).to_contain_text("Stopped.")
            chromium.close()
    finally:
        demo.close()


def _cpu() -> tuple[float, float]:
    """CPU seconds so far of this process (the app's server) and of everything else on the machine."""
    import psutil

    mine = sum(psutil.Process().cpu_times()[:2])
    t = psutil.cpu_times()
    return mine, t.user + t.system + t.nice - mine


if __name__ == "__main__":
    main()
