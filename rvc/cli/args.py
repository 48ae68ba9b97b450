"""Argument groups several commands share (experiments folder, training settings) and the training config
they give."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def logs_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--logs-dir",
        type=Path,
        default=None,
        help="folder holding the experiments (default: $RVC_LOGS_DIR, else ./logs)",
    )


def train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=20, help="total epochs (default 20)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in total")
    p.add_argument("--batch-size", type=int, default=4, help="items per step and per GPU (default 4)")
    p.add_argument("--save-every", type=int, default=5, help="save a checkpoint every N epochs (default 5)")
    p.add_argument("--latest-only", action="store_true", help="keep one checkpoint pair, overwritten at each save")
    p.add_argument("--save-small", action="store_true", help="also export a small model at each save")
    p.add_argument(
        "--pretrained-g", type=Path, default=None, help="generator to start from (default: the matching f0G/G file)"
    )
    p.add_argument("--pretrained-d", type=Path, default=None, help="discriminator to start from")
    p.add_argument("--no-pretrained", action="store_true", help="train from scratch")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--precision",
        choices=["fp32", "fp16", "bf16"],
        default="fp32",
        help="mixed precision: fp16/bf16 on a GPU; bf16 also on CPUs with AVX-512 BF16 or AMX",
    )
    p.add_argument("--cache-gpu", action="store_true", help="keep the dataset on the GPU after the first epoch")
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the decoder and discriminator (GPU; slow first step)"
    )
    p.add_argument(
        "--loader-workers", type=int, default=None, help="data-loading processes (default: 0 on CPU, 4 on GPU)"
    )
    p.add_argument("--log-every", type=int, default=10, help="steps between metrics lines (default 10)")
    p.add_argument(
        "--discriminator-scale",
        type=float,
        default=1.0,
        help="narrower discriminator for quick trials (<1; not the reference's D)",
    )
    p.add_argument("--weights-dir", type=Path, default=None, help="where small models go (default ./weights)")


def train_config(args: argparse.Namespace) -> Any:
    from rvc.steps.train.loop import TrainConfig

    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, save_every=args.save_every, max_steps=args.max_steps,
        latest_only=args.latest_only, save_small=args.save_small, pretrained_g=args.pretrained_g,
        pretrained_d=args.pretrained_d, no_pretrained=args.no_pretrained, device=args.device,
        precision=args.precision, cache_on_gpu=args.cache_gpu, discriminator_scale=args.discriminator_scale,
        log_every=args.log_every, weights_dir=args.weights_dir, compile=args.compile, num_workers=args.loader_workers,
    )  # fmt: skip
