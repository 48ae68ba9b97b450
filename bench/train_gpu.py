#!/usr/bin/env python3
"""Step 3 on one GPU: items per second, peak GPU memory and loss parity across precisions, plus the real
out-of-memory path. Written to run in one call of the `device` tool (its python3 holds torch, scipy, psutil and
tensorboard: nothing to carry; see bench/gpu_check.sh).

The data mirror the reference's GPU measurement (../shared/bench/baseline.md): 322 items, that is 40 pieces of
3.0 s repeated 8 times plus the two silent clips, v2-40k with pitch, 768-d features, data cached on the GPU,
steady-state epochs after the first. The pieces are synthetic (a voiced harmonic signal with a moving pitch,
seeded features) in the real experiment layout, so no audio decoding or embedder is needed on the machine:
the shapes, which set the speed, are those of real pieces.

Each configuration is one `python -m rvc train` process from scratch (no pretrained weights there) with
`--log-every 1`; items/s = batch / median wall seconds per step over the epochs after the first.

    python3 bench/train_gpu.py [--runs fp16:8,bf16:8,fp32:8,fp16:16,bf16:16] [--compile bf16:16] [--epochs 2]
        [--parity-steps 100] [--no-oom-check] [--budget 420]

In that order: the timed runs, the out-of-memory check, the loss-parity runs, then the compiled run (its first
step compiles: minutes); whatever would not finish within --budget seconds is skipped and said so.

Reference on one H200, fp16: ≈ 33 items/s at batch 8, ≈ 57 at batch 16. Targets: ≥ 50 and ≥ 85.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PIECES, COPIES, SECONDS, SR = 40, 8, 3.0, 40000


def make_experiment(logs: Path, name: str = "bench") -> Path:
    """The synthetic 322-item experiment, in the reference's folder layout."""
    from scipy.io import wavfile

    from rvc.core.experiment import ExperimentConfig, create_or_open
    from rvc.pitch.methods import coarse_f0
    from rvc.steps.train.data import write_mute

    exp, _ = create_or_open(ExperimentConfig(name, "40k", "v2", True), logs)
    p = exp.paths
    feat_dir = p.features("v2")
    for d in (p.gt_wavs, p.wavs16k, p.f0_coarse, p.f0_hz, feat_dir):
        d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    frames = int(SECONDS * 100)
    for i in range(PIECES):
        t = np.arange(frames) / 100
        f0 = (120 + 80 * i / PIECES) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
        f0[(t % 1.0) > 0.85] = 0  # unvoiced gaps
        hz = np.repeat(f0, SR // 100)
        phase = 2 * np.pi * np.cumsum(hz / SR)
        wav = sum(np.sin(k * phase) / k for k in range(1, 8)) * (hz > 0) * 0.3
        wav = (wav + 0.01 * rng.standard_normal(len(wav))).astype(np.float32)
        feats = np.cumsum(rng.standard_normal((frames // 2, 768)), axis=0).astype(np.float32) * 0.1
        for c in range(COPIES):
            stem = f"0_{i}_{c}"
            wavfile.write(p.gt_wavs / f"{stem}.wav", SR, wav)
            np.save(feat_dir / f"{stem}.npy", feats)
            np.save(p.f0_coarse / f"{stem}.wav.npy", coarse_f0(f0))
            np.save(p.f0_hz / f"{stem}.wav.npy", f0)
    write_mute(exp, rng.standard_normal((150, 768)).astype(np.float32) * 0.1)
    return p.root


def train_run(
    logs: Path,
    device: str,
    precision: str,
    batch: int,
    epochs: int,
    compile_: bool,
    max_steps: int | None,
    timeout: int = 240,
) -> dict:
    """One from-scratch training process; returns its metrics rows and wall time."""
    root = logs / "bench"
    for f in [*root.glob("G_*.pth"), *root.glob("D_*.pth"), root / "metrics.jsonl", *root.glob("events.*")]:
        f.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "rvc", "train", "bench", "--logs-dir", str(logs), "--no-pretrained"]
    cmd += ["--device", device, "--precision", precision, "--batch-size", str(batch), "--epochs", str(epochs)]
    cmd += ["--save-every", "1000", "--log-every", "1", "--cache-gpu", "--weights-dir", str(logs / "weights")]
    if compile_:
        cmd.append("--compile")
    if max_steps:
        cmd += ["--max-steps", str(max_steps)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return {"error": f"timed out after {timeout} s\n{(e.stderr or b'')[-1500:]!r}", "wall": timeout}
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        return {"error": r.stderr[-1500:], "wall": wall}
    rows = [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]
    return {"rows": rows, "wall": wall}


def summarize(name: str, batch: int, run: dict) -> str:
    if "error" in run:
        return f"{name}: FAILED after {run['wall']:.0f} s\n{run['error']}"
    rows = run["rows"]
    steady = [r["sec_per_step"] for r in rows if r["epoch"] > 1] or [r["sec_per_step"] for r in rows[2:]]
    steady = steady or [r["sec_per_step"] for r in rows]
    per_step = statistics.median(steady)
    peak = max((r.get("gpu_peak_gb", 0.0) for r in rows), default=0.0)
    first = rows[0]["sec_per_step"]
    return (
        f"{name}: {batch / per_step:6.1f} items/s  ({per_step * 1000:.0f} ms/step steady over {len(steady)} steps; "
        f"first step {first:.1f} s; peak GPU memory {peak:.1f} GB; process {run['wall']:.0f} s; "
        f"last mel loss {rows[-1]['loss_mel']:.2f})"
    )


def oom_check(logs: Path) -> str:
    """The real out-of-memory path: training at batch 64 with the GPU capped at 6 GB must stop with the batch
    size that fits, and leave the run resumable."""
    import torch

    from rvc.core.experiment import open_experiment
    from rvc.steps.train import loop as T

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(6e9 / total)
    exp = open_experiment("bench", logs)
    for f in [*exp.paths.root.glob("G_*.pth"), *exp.paths.root.glob("D_*.pth")]:
        f.unlink()
    cfg = dict(no_pretrained=True, device="cuda", save_every=1000, weights_dir=logs / "weights", cache_on_gpu=False)
    try:
        T.train(exp, T.TrainConfig(batch_size=64, epochs=1, max_steps=3, **cfg))
        return "oom check: batch 64 did not run out of memory under a 6 GB cap (raise the batch size)"
    except Exception as e:  # noqa: BLE001 - the message is the result
        message = str(e)
    torch.cuda.empty_cache()
    fits = re.search(r"batch size (\d+) fits", message)
    if not fits:
        return f"oom check: {message}"
    size = int(fits.group(1))
    result = T.train(exp, T.TrainConfig(batch_size=size, epochs=1, max_steps=3, **cfg))
    return f"oom check: {message!r}; then batch {size} ran {result.step} steps under the same cap"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="fp16:8,bf16:8,fp32:8,fp16:16,bf16:16", help="precision:batch, …")
    ap.add_argument("--compile", default="bf16:16", help="precision:batch of the compiled run ('' for none)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--parity-steps", type=int, default=100, help="0: no loss-parity runs")
    ap.add_argument("--no-oom-check", action="store_true")
    ap.add_argument("--budget", type=float, default=420, help="seconds for everything")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script (with --max-steps)")
    ap.add_argument("--max-steps", type=int, default=None, help="cap every timed run (dry runs)")
    args = ap.parse_args()
    deadline = time.monotonic() + args.budget

    def left() -> int:
        return int(deadline - time.monotonic())

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU")
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU (dry run)"
    print(f"device: {name}; torch {torch.__version__}; date {time.strftime('%Y-%m-%d')}")
    logs = Path(tempfile.mkdtemp(prefix="rvc-gpu-"))
    try:
        make_experiment(logs)
        for spec in filter(None, args.runs.split(",")):
            precision, batch = spec.split(":")
            if left() < 40:
                print(f"{spec}: skipped, out of time")
                continue
            run = train_run(
                logs, args.device, precision, int(batch), args.epochs, False, args.max_steps, min(240, left())
            )
            print(summarize(spec, int(batch), run), flush=True)
        if not args.no_oom_check and args.device == "cuda" and left() > 60:
            print(oom_check(logs), flush=True)
        if args.parity_steps:
            print(f"loss parity, batch 8, {args.parity_steps} steps from the same seed (mean of the last 20 steps):")
            for precision in ("fp32", "bf16", "fp16"):
                if left() < 40:
                    print(f"  {precision}: skipped, out of time")
                    continue
                run = train_run(logs, args.device, precision, 8, 1000, False, args.parity_steps, min(180, left()))
                if "error" in run:
                    print(f"  {precision}: FAILED\n{run['error']}")
                    continue
                tail = run["rows"][-20:]
                means = {k: statistics.mean(r[k] for r in tail) for k in ("loss_mel", "loss_kl", "loss_g", "loss_d")}
                print(f"  {precision}: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()), flush=True)
        if args.compile:
            precision, batch = args.compile.split(":")
            if left() < 90:
                print(f"compiled {args.compile}: skipped, out of time ({left()} s left)")
            else:
                run = train_run(logs, args.device, precision, int(batch), args.epochs, True, args.max_steps, left())
                print(summarize(f"{args.compile} compiled", int(batch), run), flush=True)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
