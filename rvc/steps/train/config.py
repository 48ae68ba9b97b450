"""The settings of Step 3 and what it reports: no torch here, so the pages and the CLI can build and read these
without loading it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from rvc.core.config import DEVICES
from rvc.core.options import option

Precision = Literal["fp32", "fp16", "bf16"]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of Step 3 (the reference's fields, plus ours)."""

    epochs: int = option(20, "total epochs (default {default})", minimum=1, maximum=1000, step=1)
    batch_size: int = option(4, "items per step and per GPU (default {default})", minimum=1, maximum=40, step=1)
    save_every: int = option(5, "save a checkpoint every N epochs (default {default})", minimum=1, maximum=100, step=1)
    max_steps: int | None = option(None, "stop after this many steps in total", minimum=1)  # tests, quick checks
    # one G_2333333.pth/D_2333333.pth, overwritten at each save
    latest_only: bool = option(False, "keep one checkpoint pair, overwritten at each save")
    # also export weights/<name>_e<epoch>_s<step>.pth at each save
    save_small: bool = option(False, "also export a small model at each save")
    # None: the registry's file for this sample rate/version/pitch, if any
    pretrained_g: Path | None = option(None, "generator to start from (default: the matching f0G/G file)")
    pretrained_d: Path | None = option(None, "discriminator to start from")
    no_pretrained: bool = option(False, "train from scratch")
    device: str = option("auto", "auto, cpu or cuda", choices=DEVICES)
    precision: Precision = option(
        "fp32",
        "mixed precision: fp16/bf16 on a GPU; bf16 also on CPUs with AVX-512 BF16 or AMX",
        choices=get_args(Precision),
    )
    cache_on_gpu: bool = option(False, "keep the dataset on the GPU after the first epoch")
    log_every: int = option(10, "steps between metrics lines (default {default})", minimum=1)
    seed: int = option(1234, "seed of the initial weights and the order of batches (default {default})", minimum=0)
    weights_dir: Path | None = option(None, "where small models go (default ./weights)")
    # None: 0 on CPU, up to 4 beside a GPU
    num_workers: int | None = option(None, "data-loading processes (default: 0 on CPU, 4 on GPU)", minimum=0)
    # torch.compile the decoder and discriminator (the parts whose shapes never change)
    compile: bool = option(False, "torch.compile the decoder and discriminator (GPU; slow first step)")
    # < 1 narrows the discriminator (quick runs, tests): no reference D fits it
    discriminator_scale: float = option(
        1.0, "narrower discriminator for quick trials (<1; not the reference's D)", minimum=0.0, maximum=1.0
    )
    # the checkpoints judged by ear-like metrics (rvc.evaluation) on pieces kept out of training
    holdout: float = option(
        0.05, "share of pieces kept out of training to judge checkpoints (0: off; default {default})",
        minimum=0.0, maximum=0.5, step=0.01,
    )  # fmt: skip
    eval_every: int = option(0, "evaluate every N epochs (0: at each save)", minimum=0, maximum=100, step=1)
    patience: int = option(
        0, "stop after K evaluations without a better score (0: never stop early)", minimum=0, maximum=100, step=1
    )
    probes: tuple[Path, ...] = option((), "a recording of another voice to judge checkpoints on (repeatable)")
    no_eval: bool = option(False, "do not evaluate checkpoints (no best model, no early stopping)")


@dataclass
class TrainStatus:
    """Where training stands after a step: the ``detail`` of its progress reports (a job's ``progress``)."""

    epoch: int
    epochs: int
    step: int
    losses: dict[str, float] = field(default_factory=dict)
    epoch_step: int = 0  # steps done in this epoch
    steps_per_epoch: int = 0
    first_step: int = 0  # the step count this run started from (for rates and ETAs)


@dataclass
class TrainResult:
    epoch: int
    step: int
    checkpoint: Path | None
    small_model: Path | None
    stopped: bool
    started_from: str
    warnings: list[str]
    best: Path | None = None  # weights/<name>_best.pth: the small model of the best-scoring evaluation
    best_epoch: int | None = None
    stop_reason: str = ""  # why it ended before the last epoch (early stopping), for the page and the CLI
