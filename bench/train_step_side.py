#!/usr/bin/env python3
"""One training step of ours and of the reference's trainer, side by side on one machine in one run: the same
random batch shapes (v2-40k with pitch, 3.7 s pieces, fp32, CPU), reference and ours alternating, each in its own
process (ours in this venv, the reference's code in its venv), seconds per step after a warm-up step.

    .venv/bin/python bench/train_step_side.py [--rounds 2] [--steps 3] [--batch-size 4]
        [--ref-python $SCRATCH/rvcbase/venv/bin/python] [--ref $SCRATCH/rvcbase/rvc]

The reference's step is its train.py body (net_g, slice, mel of the slice, net_d on real and detached fake, its
losses, AdamW on D, net_d again, the generator's losses, AdamW on G, clip_grad_value_ with None as it logs),
built from its own classes; without its DDP wrapper (one process: that only makes the reference faster) and with
the grad scaler off (fp32). Ratio = our steps per second / the reference's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRATCH = Path(os.environ.get("SCRATCH", "/work/scratch"))


def step_batch(b: int, frames: int, hop: int, n_fft: int) -> tuple:
    import torch

    g = torch.Generator().manual_seed(0)
    lens = torch.full((b,), frames, dtype=torch.long)
    return (
        torch.randn(b, frames, 768, generator=g), lens, torch.randint(1, 255, (b, frames), generator=g),
        100 + 200 * torch.rand(b, frames, generator=g), torch.rand(b, n_fft // 2 + 1, frames, generator=g), lens,
        torch.randn(b, 1, frames * hop, generator=g) * 0.1, lens * hop, torch.zeros(b, dtype=torch.long),
    )  # fmt: skip


def _ours(args: argparse.Namespace):
    import torch

    sys.path.insert(0, str(HERE.parent))
    from rvc.core.config import load_model_config
    from rvc.models.synthesizer import SynthesizerConfig
    from rvc.steps.train.config import TrainConfig
    from rvc.steps.train.step import new_state, train_step

    torch.manual_seed(0)
    hps = load_model_config("40k", "v2")
    s = new_state(hps, SynthesizerConfig.from_hparams(hps, "v2", True), TrainConfig(), torch.device("cpu"))
    x = step_batch(args.batch_size, args.frames, 400, 2048)
    return lambda: train_step(s, x)


def _reference(args: argparse.Namespace):
    import torch
    from torch.nn import functional as F

    os.chdir(args.ref)
    # its infer/ is a namespace package: a module of the same name anywhere on the path (bench/infer.py) wins
    sys.path[:] = [str(args.ref)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
    from infer.lib.infer_pack import commons
    from infer.lib.infer_pack.models import MultiPeriodDiscriminatorV2, SynthesizerTrnMs768NSFsid
    from infer.lib.train.losses import discriminator_loss, feature_loss, generator_loss, kl_loss
    from infer.lib.train.mel_processing import mel_spectrogram_torch, spec_to_mel_torch

    h = json.loads((Path(args.ref) / "configs/v1/40k.json").read_text())
    d, t = h["data"], h["train"]
    torch.manual_seed(0)
    net_g = SynthesizerTrnMs768NSFsid(
        d["filter_length"] // 2 + 1, t["segment_size"] // d["hop_length"], **h["model"], is_half=False, sr=40000
    )
    net_d = MultiPeriodDiscriminatorV2(h["model"]["use_spectral_norm"])
    opt = dict(lr=t["learning_rate"], betas=t["betas"], eps=t["eps"])
    optim_g, optim_d = torch.optim.AdamW(net_g.parameters(), **opt), torch.optim.AdamW(net_d.parameters(), **opt)
    net_g.train(), net_d.train()
    x = step_batch(args.batch_size, args.frames, d["hop_length"], d["filter_length"])

    def step() -> None:
        phone, phone_lengths, pitch, pitchf, spec, spec_lengths, wave, _, sid = x
        y_hat, ids_slice, x_mask, z_mask, (z, z_p, m_p, logs_p, m_q, logs_q) = net_g(
            phone, phone_lengths, pitch, pitchf, spec, spec_lengths, sid
        )
        mel = spec_to_mel_torch(
            spec, d["filter_length"], d["n_mel_channels"], d["sampling_rate"], d["mel_fmin"], d["mel_fmax"]
        )
        y_mel = commons.slice_segments(mel, ids_slice, t["segment_size"] // d["hop_length"])
        y_hat_mel = mel_spectrogram_torch(
            y_hat.float().squeeze(1), d["filter_length"], d["n_mel_channels"], d["sampling_rate"], d["hop_length"],
            d["win_length"], d["mel_fmin"], d["mel_fmax"],
        )  # fmt: skip
        wave = commons.slice_segments(wave, ids_slice * d["hop_length"], t["segment_size"])
        y_d_hat_r, y_d_hat_g, _, _ = net_d(wave, y_hat.detach())
        loss_disc, _, _ = discriminator_loss(y_d_hat_r, y_d_hat_g)
        optim_d.zero_grad()
        loss_disc.backward()
        commons.clip_grad_value_(net_d.parameters(), None)
        optim_d.step()
        y_d_hat_r, y_d_hat_g, fmap_r, fmap_g = net_d(wave, y_hat)
        loss_mel = F.l1_loss(y_mel, y_hat_mel) * t["c_mel"]
        loss_kl = kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * t["c_kl"]
        loss_fm = feature_loss(fmap_r, fmap_g)
        loss_gen, _ = generator_loss(y_d_hat_g)
        loss_gen_all = loss_gen + loss_fm + loss_mel + loss_kl
        optim_g.zero_grad()
        loss_gen_all.backward()
        commons.clip_grad_value_(net_g.parameters(), None)
        optim_g.step()
        float(loss_gen_all), float(loss_disc)  # noqa: B018 (the reference logs them: a sync)

    return step


def worker(args: argparse.Namespace) -> None:
    import torch

    step = _reference(args) if args.worker == "ref" else _ours(args)
    step()  # warm-up
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"impl": args.worker, "threads": torch.get_num_threads(), "times": times}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--frames", type=int, default=370, help="content frames per item (3.7 s pieces at 40k)")
    ap.add_argument("--ref-python", default=str(SCRATCH / "rvcbase/venv/bin/python"))
    ap.add_argument("--ref", default=str(SCRATCH / "rvcbase/rvc"))
    ap.add_argument("--worker", choices=["ref", "ours"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    sys.path.insert(0, str(HERE))
    from common import machine, today

    common = ["--steps", str(args.steps), "--batch-size", str(args.batch_size), "--frames", str(args.frames)]
    runs: dict[str, list[float]] = {"ref": [], "ours": []}
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    for r in range(args.rounds):
        for impl, py in (("ref", args.ref_python), ("ours", sys.executable)):
            cmd = [py, __file__, "--worker", impl, "--ref", args.ref, *common]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
            row = json.loads(out.strip().splitlines()[-1])
            med = statistics.median(row["times"])
            runs[impl].append(med)
            print(
                f"round {r + 1} {impl:4s}: "
                + " ".join(f"{t:.2f}" for t in row["times"])
                + f"  median {med:.2f} s/step",
                flush=True,
            )
    ref, ours = statistics.median(runs["ref"]), statistics.median(runs["ours"])
    spread = {k: (max(v) - min(v)) / min(v) * 100 for k, v in runs.items()}
    print(f"{today()} {machine()}")
    print(
        f"training step v2-40k, batch {args.batch_size}, fp32 CPU: reference {ref:.2f} s, ours {ours:.2f} s, "
        f"ratio {ref / ours:.2f}x (run-to-run spread: reference {spread['ref']:.1f} %, ours {spread['ours']:.1f} %)"
    )


if __name__ == "__main__":
    main()
