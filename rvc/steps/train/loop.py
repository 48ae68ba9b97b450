"""Step 3: training the RVC generator and discriminator, as the reference trains them.

Losses: LSGAN adversarial, feature matching ×2, mel L1 ×45 (``c_mel``), KL ×1 (``c_kl``). AdamW (lr 1e-4,
betas 0.8/0.99, eps 1e-9) for both nets, learning rate × 0.999875 after every epoch. Per step: the
discriminator on the real and generated slices, then the generator.

What the reference does differently, on purpose:
- resume continues at the epoch after the saved one (the reference repeats it), with the step count,
  scheduler and grad-scaler state restored;
- every checkpoint is written atomically; a damaged newest pair is skipped for the previous good one;
- ``batch_size`` is per process (the reference multiplies it by the GPU count);
- pretrained files are loaded strictly, and one that does not fit is refused with what differs.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.nn import functional as F

from rvc.core.config import DEVICES
from rvc.core.errors import ModelFileError, RvcError
from rvc.core.experiment import Experiment
from rvc.core.locking import experiment_lock
from rvc.core.options import option
from rvc.core.workers import mp_context
from rvc.models.checkpoint import (
    FORMAT,
    LATEST_STEP,
    checkpoint_pairs,
    load_checkpoint,
    save_atomic,
    small_model,
    step_of,
)
from rvc.models.discriminator import MultiPeriodDiscriminator
from rvc.models.synthesizer import Synthesizer, SynthesizerConfig, check_state, slice_segments
from rvc.nn.devices import resolve_device
from rvc.steps.train.data import BucketSampler, TrainSet, build_filelist, collate, spec_to_mel, wav_to_mel

logger = logging.getLogger(__name__)

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
    seed: int = 1234
    weights_dir: Path | None = option(None, "where small models go (default ./weights)")
    # None: 0 on CPU, up to 4 beside a GPU
    num_workers: int | None = option(None, "data-loading processes (default: 0 on CPU, 4 on GPU)", minimum=0)
    # torch.compile the decoder and discriminator (the parts whose shapes never change)
    compile: bool = option(False, "torch.compile the decoder and discriminator (GPU; slow first step)")
    # < 1 narrows the discriminator (quick runs, tests): no reference D fits it
    discriminator_scale: float = option(
        1.0, "narrower discriminator for quick trials (<1; not the reference's D)", minimum=0.0, maximum=1.0
    )


@dataclass
class Progress:
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


# --- losses --------------------------------------------------------------------------------------------------


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2) for r, g in zip(real, fake, strict=True))


def generator_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(torch.mean((1 - g.float()) ** 2) for g in fake)


def feature_loss(fmap_r: list[list[torch.Tensor]], fmap_g: list[list[torch.Tensor]]) -> torch.Tensor:
    total = sum(
        torch.mean(torch.abs(r.float().detach() - g.float()))
        for dr, dg in zip(fmap_r, fmap_g, strict=True)
        for r, g in zip(dr, dg, strict=True)
    )
    return total * 2


def kl_loss(
    z_p: torch.Tensor, logs_q: torch.Tensor, m_p: torch.Tensor, logs_p: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    z_p, logs_q, m_p, logs_p, mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, mask))
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * mask) / torch.sum(mask)


def grad_norm(params: Any) -> torch.Tensor:
    """The 2-norm over all gradients, as a tensor on their device (read with the losses: one sync per step)."""
    grads = [p.grad.detach() for p in params if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads, 2.0) if grads else torch.zeros(())


# --- one step ------------------------------------------------------------------------------------------------


@dataclass
class State:
    net_g: nn.Module
    net_d: nn.Module
    optim_g: torch.optim.Optimizer
    optim_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    hps: dict[str, Any]
    use_f0: bool
    device: torch.device
    autocast_dtype: torch.dtype | None


def train_step(s: State, batch: tuple[torch.Tensor, ...], probe: bool = False) -> dict[str, float]:
    """The discriminator step then the generator step on one batch; returns the losses and grad norms.
    ``probe``: forward and backward only (no parameter or optimizer change), to measure memory."""
    d, t = s.hps["data"], s.hps["train"]
    phone, phone_len, pitch, pitchf, spec, spec_len, wav, _, sid = (x.to(s.device, non_blocking=True) for x in batch)
    amp = torch.autocast(s.device.type, dtype=s.autocast_dtype, enabled=s.autocast_dtype is not None)
    with amp:
        p, pf = (pitch, pitchf) if s.use_f0 else (None, None)
        y_hat, ids, _, z_mask, (_, z_p, m_p, logs_p, _, logs_q) = s.net_g(phone, phone_len, p, pf, spec, spec_len, sid)
        hop, seg = d["hop_length"], s.hps["train"]["segment_size"]
        y = slice_segments(wav, ids * hop, seg)
        r, g, _, _ = s.net_d(y, y_hat.detach())
        loss_d = discriminator_loss(r, g)
    # the target mel in float32 (outside autocast, like the generated one), of the slice only: equal to the slice
    # of the whole item's mel, since the mel is per frame
    y_mel = spec_to_mel(slice_segments(spec, ids, seg // hop), d)
    s.optim_d.zero_grad(set_to_none=True)
    s.scaler.scale(loss_d).backward()
    s.scaler.unscale_(s.optim_d)
    gn_d = grad_norm(s.net_d.parameters())  # measured, not clipped (as the reference)
    if not probe:
        s.scaler.step(s.optim_d)
    with amp:
        r, g, fmap_r, fmap_g = s.net_d(y, y_hat)
    y_hat_mel = wav_to_mel(y_hat.squeeze(1), d)
    loss_mel = F.l1_loss(y_mel, y_hat_mel) * t["c_mel"]
    loss_kl = kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * t["c_kl"]
    loss_fm = feature_loss(fmap_r, fmap_g)
    loss_adv = generator_loss(g)
    loss_g = loss_adv + loss_fm + loss_mel + loss_kl
    s.optim_g.zero_grad(set_to_none=True)
    s.scaler.scale(loss_g).backward()
    s.scaler.unscale_(s.optim_g)
    gn_g = grad_norm(s.net_g.parameters())
    if probe:
        s.optim_g.zero_grad(set_to_none=True)
        s.optim_d.zero_grad(set_to_none=True)
        if s.scaler.is_enabled():  # unscale_ was called: reset the scaler's per-step state, same scale
            s.scaler.update(s.scaler.get_scale())
    else:
        s.scaler.step(s.optim_g)
        s.scaler.update()
    values = {
        "loss_d": loss_d,
        "loss_g": loss_g,
        "loss_adv": loss_adv,
        "loss_fm": loss_fm,
        "loss_mel": loss_mel,
        "loss_kl": loss_kl,
        "grad_norm_d": gn_d,
        "grad_norm_g": gn_g,
    }
    # one device-to-host copy for all of them: on a GPU each .item() would stall the queue of kernels
    numbers = torch.stack([v.detach().float().reshape(()).to(s.device) for v in values.values()]).tolist()
    return dict(zip(values, numbers, strict=True))


# --- setup ---------------------------------------------------------------------------------------------------


def pretrained_paths(experiment: Experiment, config: TrainConfig) -> tuple[Path | None, Path | None, str]:
    """The pretrained G/D to start from, and a warning when there are none (training from scratch)."""
    if config.no_pretrained:
        return None, None, "training from scratch (no pretrained weights, as asked): expect a much longer training"
    if config.pretrained_g or config.pretrained_d:
        if not (config.pretrained_g and config.pretrained_d):
            raise RvcError("give both --pretrained-g and --pretrained-d, or neither")
        return config.pretrained_g, config.pretrained_d, ""
    from rvc.hub import weights

    c = experiment.config
    prefix = "f0" if c.use_f0 else ""  # without pitch guidance: G40k/D40k (the product doc's f0G/f0D is a bug)
    found = []
    for kind in ("G", "D"):
        name = weights.pretrained_name(f"{prefix}{kind}{c.sample_rate}.pth", c.version)
        try:
            found.append(weights.ensure(name))
        except weights.WeightsError as e:
            return None, None, f"no pretrained {name}: training from scratch, which needs far more epochs ({e})"
    return found[0], found[1], ""


def _load_pretrained(net: nn.Module, path: Path, what: str) -> None:
    ckpt = load_checkpoint(path)
    state = {k: v for k, v in ckpt["model"].items() if isinstance(v, torch.Tensor)}
    try:
        check_state(net, state, str(path))
    except ModelFileError as e:
        raise ModelFileError(
            f"the pretrained {what} does not match this experiment's sample rate/version/pitch: {e}"
        ) from e
    net.load_state_dict(state, strict=True)


def _resume(s: State, folder: Path, warnings: list[str]) -> tuple[int, int, Path | None]:
    """Loads the newest usable checkpoint pair; returns (next epoch, step, the G file) or (1, 0, None)."""
    for g_path, d_path in checkpoint_pairs(folder):
        try:
            g, d = load_checkpoint(g_path), load_checkpoint(d_path)
            check_state(s.net_g, g["model"], str(g_path))
            check_state(s.net_d, d["model"], str(d_path))
        except (ValueError, ModelFileError) as e:
            warnings.append(f"skipped a damaged or foreign checkpoint: {e}")
            logger.warning("skipping %s: %s", g_path.name, e)
            continue
        s.net_g.load_state_dict(g["model"])
        s.net_d.load_state_dict(d["model"])
        _load_optional(s.optim_g, _as_implemented_here(s.optim_g, g.get("optimizer")))
        _load_optional(s.optim_d, _as_implemented_here(s.optim_d, d.get("optimizer")))
        _load_optional(s.sched_g, g.get("scheduler"))
        _load_optional(s.sched_d, d.get("scheduler"))
        _load_optional(s.scaler, g.get("scaler"))
        epoch = int(g.get("iteration", 1))
        named = step_of(g_path)  # RVC WebUI's checkpoints carry no step: their file name does (but the "latest" one)
        step = int(g.get("step", named if named != LATEST_STEP else 0))
        return epoch + 1, step, g_path
    return 1, 0, None


def _as_implemented_here(optimizer: torch.optim.Optimizer, state: Any) -> Any:
    """A saved optimizer state with this run's implementation flags (fused, foreach, capturable): a checkpoint
    from a CPU run, or from RVC WebUI, resumes fused on a GPU, and a GPU one plain on a CPU."""
    if not (isinstance(state, dict) and isinstance(state.get("param_groups"), list)):
        return state
    here = {
        k: optimizer.param_groups[0][k] for k in ("fused", "foreach", "capturable") if k in optimizer.param_groups[0]
    }
    return {**state, "param_groups": [{**group, **here} for group in state["param_groups"]]}


def _load_optional(obj: Any, state: Any) -> None:
    if isinstance(state, dict) and state:
        try:
            obj.load_state_dict(state)
        except (ValueError, KeyError, RuntimeError) as e:
            logger.warning("could not restore %s state: %s", type(obj).__name__, e)


def _save(
    s: State, experiment: Experiment, config: TrainConfig, epoch: int, step: int, cfg: SynthesizerConfig
) -> tuple[Path, Path | None]:
    folder = experiment.paths.root
    name = LATEST_STEP if config.latest_only else step
    g_model = _unwrap(s.net_g).state_dict()
    common = {"iteration": epoch, "step": step, "learning_rate": s.hps["train"]["learning_rate"], "format": FORMAT}
    g_path, d_path = folder / f"G_{name}.pth", folder / f"D_{name}.pth"
    # D first: a kill between the two leaves a G/D pair of the previous save (a pair is found by its G)
    save_atomic(
        {
            "model": _unwrap(s.net_d).state_dict(),
            "optimizer": s.optim_d.state_dict(),
            "scheduler": s.sched_d.state_dict(),
            **common,
        },
        d_path,
    )
    save_atomic(
        {"model": g_model, "optimizer": s.optim_g.state_dict(), "scheduler": s.sched_g.state_dict(), "scaler": s.scaler.state_dict(), "config": s.hps, **common},
        g_path,
    )  # fmt: skip
    small = None
    if config.save_small:
        small = _export(g_model, cfg, experiment, config, f"{experiment.name}_e{epoch}_s{step}", epoch, step)
    return g_path, small


def _export(
    state: dict[str, torch.Tensor],
    cfg: SynthesizerConfig,
    experiment: Experiment,
    config: TrainConfig,
    stem: str,
    epoch: int,
    step: int,
) -> Path:
    out_dir = Path(config.weights_dir or "weights")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.pth"
    save_atomic(small_model(state, cfg, experiment.config.sample_rate, **model_card(experiment, epoch, step)), path)
    return path.resolve()


def model_card(experiment: Experiment, epoch: int, step: int) -> dict[str, Any]:
    """The ``info`` text and card keys of a small model exported from this experiment."""
    from rvc.models.package import card_fields
    from rvc.steps.preprocess import load_report

    try:
        seconds = load_report(experiment.paths).totals["kept_seconds"]
    except RvcError:
        seconds = None
    c = experiment.config
    return card_fields(epoch, step, c.sample_rate, c.version, c.use_f0, seconds)


def _unwrap(net: nn.Module) -> nn.Module:
    return net.module if hasattr(net, "module") else net


# --- the loop --------------------------------------------------------------------------------------------------


def train(
    experiment: Experiment,
    config: TrainConfig | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Trains (or resumes) the experiment's model. Single process, or one rank of a ``torchrun`` job.

    Raises:
        IncompleteStepError: no features yet (run Step 2b).
        ModelFileError: a pretrained file does not fit (what differs is named).
        ExperimentBusyError: another job runs on this experiment.
    """
    config = config or TrainConfig()
    dist = _distributed()
    rank = dist[0] if dist else 0
    if config.batch_size < 1 or config.epochs < 1 or config.save_every < 1:
        raise ValueError("batch size, epochs and save-every must be at least 1")
    items = build_filelist(experiment, write=rank == 0)
    device = torch.device(resolve_device(config.device))
    if dist and device.type == "cuda":
        device = torch.device("cuda", dist[2])
    # one training per experiment: the single process, or rank 0 of a distributed job, holds the lock
    lock = experiment_lock(experiment.paths.lock, "training") if rank == 0 else contextlib.nullcontext()
    with lock:
        return _train_locked(experiment, config, items, device, dist, on_progress, stop)


def _distributed() -> tuple[int, int, int] | None:
    """``(rank, world size, local rank)`` under torchrun, else None."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    return None


def _train_locked(
    experiment: Experiment,
    config: TrainConfig,
    items: list,
    device: torch.device,
    dist: tuple[int, int, int] | None,
    on_progress: Callable[[Progress], None] | None,
    stop: threading.Event | None,
) -> TrainResult:
    c = experiment.config
    hps = {k: v for k, v in experiment.model_config.items() if k in ("train", "data", "model")}
    t = hps["train"]
    rank, world = (dist[0], dist[1]) if dist else (0, 1)
    torch.manual_seed(config.seed + rank)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if dist:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    cfg = SynthesizerConfig.from_hparams(hps, c.version, c.use_f0)
    net_g, net_d = (
        Synthesizer(cfg).to(device),
        MultiPeriodDiscriminator(c.version, config.discriminator_scale).to(device),
    )
    autocast = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[config.precision]
    if autocast is not None and device.type == "cpu" and config.precision == "fp16":
        raise RvcError("fp16 needs a CUDA GPU; on CPU use fp32 (or bf16)")
    # on CUDA the fused AdamW: one kernel per step instead of several per parameter, and no host sync under the
    # grad scaler; its state_dict is the plain AdamW's, so checkpoints move freely between CPU and GPU runs
    opt = dict(lr=t["learning_rate"], betas=tuple(t["betas"]), eps=t["eps"], fused=device.type == "cuda")
    optim_g, optim_d = torch.optim.AdamW(net_g.parameters(), **opt), torch.optim.AdamW(net_d.parameters(), **opt)
    s = State(
        net_g, net_d, optim_g, optim_d,
        torch.optim.lr_scheduler.ExponentialLR(optim_g, t["lr_decay"]), torch.optim.lr_scheduler.ExponentialLR(optim_d, t["lr_decay"]),
        torch.amp.GradScaler(device.type, enabled=config.precision == "fp16"), hps, c.use_f0, device, autocast,
    )  # fmt: skip
    warnings: list[str] = []
    start_epoch, step, resumed = _resume(s, experiment.paths.root, warnings)
    started_from = f"resumed from {resumed.name}" if resumed else ""
    if resumed is None:
        g_path, d_path, warning = pretrained_paths(experiment, config)
        if g_path and d_path:
            _load_pretrained(net_g, g_path, "generator")
            _load_pretrained(net_d, d_path, "discriminator")
            started_from = f"pretrained {g_path.name} / {d_path.name}"
        else:
            warnings.append(warning)
            started_from = "scratch"
            logger.warning(warning)
    compiled = config.compile and _can_compile(device, warnings)
    if compiled:
        compile_fixed_shapes(net_g, net_d)
    if dist:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        s.net_g, s.net_d = DDP(net_g, device_ids=ids), DDP(net_d, device_ids=ids)
    data = TrainSet(items, hps, c.use_f0)
    sampler = BucketSampler(data.lengths, config.batch_size, world, rank, config.seed)
    if len(sampler) == 0:
        raise RvcError("no piece has a usable length (between about 0.75 s and 6.75 s): check Step 2a's report")
    workers = data_workers(config.num_workers, device)
    loader = torch.utils.data.DataLoader(
        data,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        multiprocessing_context=mp_context() if workers else None,  # no fork of the web app's threads
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # the peak of this training, not of earlier work in the process
    try:
        return _loop(
            s, experiment, config, cfg, loader, sampler, start_epoch, step, started_from, warnings, rank, on_progress,
            stop,
        )  # fmt: skip
    finally:
        if compiled:
            torch._dynamo.reset()  # the compiled code belongs to these module instances: free it with them


def _can_compile(device: torch.device, warnings: list[str]) -> bool:
    """Whether ``torch.compile`` can generate code here (Triton beside a GPU, a C++ compiler for the CPU); why
    not, or what it costs on a CPU, goes to ``warnings``."""
    ok, note = True, ""
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            ok, note = False, "not compiling: torch.compile needs Triton for the GPU, and it is not installed"
    elif not (os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
        ok, note = False, "not compiling: torch.compile needs a C++ compiler for the CPU, and none was found"
    else:
        note = "compiling for the CPU: the first steps take minutes, and it pays mainly on a GPU"
    if note:
        warnings.append(note)
        logger.warning(note)
    return ok


def data_workers(asked: int | None, device: torch.device) -> int:
    """Loader processes: as asked, else none on CPU (they would take the cores the model needs) and up to 4
    beside a GPU, so reading and padding the next batches overlaps the step."""
    if asked is not None:
        return max(0, asked)
    if device.type != "cuda":
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def compile_fixed_shapes(net_g: Synthesizer, net_d: nn.Module, backend: str = "inductor") -> None:
    """``torch.compile`` for the decoder and the discriminator, in place (``Module.compile``: parameter names, and
    so the checkpoints, stay as they are). Both see the same shapes at every step (``segment_size`` slices), so
    they compile once per batch size; the encoders and the flow see every item length and stay eager. It pays on
    a GPU, where these many small kernels are launch-bound; the first step takes the compile time."""
    net_g.dec.compile(dynamic=False, backend=backend)
    net_d.compile(dynamic=False, backend=backend)


def _loop(
    s: State,
    experiment: Experiment,
    config: TrainConfig,
    cfg: SynthesizerConfig,
    loader: Any,
    sampler: BucketSampler,
    start_epoch: int,
    step: int,
    started_from: str,
    warnings: list[str],
    rank: int,
    on_progress: Callable[[Progress], None] | None,
    stop: threading.Event | None,
) -> TrainResult:
    metrics = MetricsWriter(experiment.paths.root) if rank == 0 else None
    epoch, saved, small, stopped, first_step = start_epoch - 1, None, None, False, step
    cached: list | None = [] if config.cache_on_gpu and s.device.type == "cuda" else None
    try:
        for epoch in range(start_epoch, config.epochs + 1):
            sampler.set_epoch(epoch)
            s.net_g.train()
            s.net_d.train()
            # from the second epoch, the batches kept on the GPU, in a new order each epoch
            batches = random.Random(config.seed + epoch).sample(cached, len(cached)) if cached else loader
            last = time.monotonic()
            for epoch_step, batch in enumerate(batches, 1):
                if cached is not None and len(cached) < len(sampler):
                    batch = tuple(x.to(s.device) for x in batch)
                    cached.append(batch)
                losses = _guarded_step(s, batch, config)
                step += 1
                now = time.monotonic()
                seconds, last = now - last, now  # wall time of the step, waiting for its batch included
                if metrics and (step % config.log_every == 0 or step == 1 or step == config.max_steps):
                    lr = s.optim_g.param_groups[0]["lr"]
                    metrics.write(step, epoch, losses, lr, seconds, _memory(s.device))
                if on_progress is not None:
                    on_progress(Progress(epoch, config.epochs, step, losses, epoch_step, len(sampler), first_step))
                if (stop is not None and stop.is_set()) or (config.max_steps and step >= config.max_steps):
                    stopped = stop is not None and stop.is_set()
                    raise _Stop
            s.sched_g.step()
            s.sched_d.step()
            if rank == 0 and (epoch % config.save_every == 0 or epoch == config.epochs):
                saved, small = _save(s, experiment, config, epoch, step, cfg)
                if metrics:
                    metrics.images(step, s, loader)
    except (_Stop, KeyboardInterrupt) as e:
        if rank == 0 and step > 0:  # mid-epoch: saved as the last whole epoch, so a resume redoes this one
            saved, small = _save(s, experiment, config, epoch - 1, step, cfg)
        if isinstance(e, KeyboardInterrupt):
            raise
    finally:
        if metrics:
            metrics.close()
    final = None
    if rank == 0 and saved is not None and not stopped:  # finished (or reached max_steps): the final small model
        final = _export(_unwrap(s.net_g).state_dict(), cfg, experiment, config, experiment.name, epoch, step)
    return TrainResult(epoch, step, saved, final or small, stopped, started_from, warnings)


class _Stop(Exception):
    pass


def _memory(device: torch.device) -> dict[str, float]:
    """The peak GPU memory so far, for the metrics line (nothing on CPU)."""
    if device.type != "cuda":
        return {}
    return {"gpu_peak_gb": round(torch.cuda.max_memory_allocated(device) / 1e9, 3)}


def _guarded_step(s: State, batch: tuple[torch.Tensor, ...], config: TrainConfig) -> dict[str, float]:
    try:
        return train_step(s, batch)
    except torch.OutOfMemoryError:
        pass  # measured below, outside this handler: its traceback holds the failed step's activations
    fits = _largest_fitting_batch(s, batch)
    hint = (
        f"batch size {fits} fits (measured on this batch of the longest pieces)"
        if fits
        else "even batch size 1 does not fit: try bf16 or fp16"
    )
    raise RvcError(
        f"The GPU ran out of memory at batch size {config.batch_size}; {hint}. "
        "The last checkpoint is kept: start again with the smaller batch size and training resumes from it."
    )


def _largest_fitting_batch(s: State, batch: tuple[torch.Tensor, ...]) -> int:
    """Tries forward + backward (no update) on the first n items of ``batch`` (its longest: collate sorts them),
    halving n until it fits; 0 when nothing does."""
    n = batch[0].shape[0] // 2
    while n >= 1:
        _free_memory(s)
        try:
            train_step(s, _first(batch, n), probe=True)
            return n
        except torch.OutOfMemoryError:
            pass
        n //= 2  # outside the handler, so the failed try's tensors are already released
    return 0


def _first(batch: tuple[torch.Tensor, ...], n: int) -> tuple[torch.Tensor, ...]:
    return tuple(x[:n] for x in batch)


def _free_memory(s: State) -> None:
    s.optim_g.zero_grad(set_to_none=True)
    s.optim_d.zero_grad(set_to_none=True)
    if s.scaler.is_enabled():  # the failed step may have unscaled (or stepped) an optimizer: start afresh
        s.scaler.update(s.scaler.get_scale())
    if s.device.type == "cuda":
        gc.collect()  # tensors kept alive by reference cycles (frames of the failed step)
        torch.cuda.empty_cache()


class MetricsWriter:
    """``metrics.jsonl`` (one JSON object per logged step) and TensorBoard event files in the experiment folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "metrics.jsonl"
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(folder))
        except ImportError:  # tensorboard is optional at run time
            self.tb = None

    def write(
        self, step: int, epoch: int, losses: dict[str, float], lr: float, seconds: float, extra: dict | None = None
    ) -> None:
        row = {
            "step": step,
            "epoch": epoch,
            **{k: round(v, 6) for k, v in losses.items()},
            "lr": lr,
            "sec_per_step": round(seconds, 4),
            "time": round(time.time(), 3),
            **(extra or {}),
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in losses.items():
                self.tb.add_scalar(f"loss/{k}" if k.startswith("loss") else k, v, step)
            self.tb.add_scalar("learning_rate", lr, step)

    def images(self, step: int, s: State, loader: Any) -> None:
        """Mel spectrograms of one real slice and the generator's version of it."""
        if self.tb is None:
            return
        d = s.hps["data"]
        batch = next(iter(loader))
        s.net_g.eval()
        with torch.no_grad(), torch.compiler.set_stance("force_eager"):  # other shapes: no recompiling
            phone, plen, pitch, pitchf, spec, slen, wav, _, sid = (x[:1].to(s.device) for x in batch)
            net = _unwrap(s.net_g)
            args = (pitch, pitchf, sid) if s.use_f0 else (sid,)
            y_hat = net.infer(phone, plen, *args)[0]
            for tag, y in (("mel/real", wav), ("mel/generated", y_hat)):
                m = wav_to_mel(y.squeeze(1), d)[0]
                img = ((m - m.min()) / (m.max() - m.min() + 1e-9)).flip(0).cpu()
                self.tb.add_image(tag, img[None], step)
        s.net_g.train()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def export(experiment: Experiment, checkpoint: Path | None = None, out: Path | None = None) -> Path:
    """Writes a small model from a checkpoint (default: the newest) to ``out`` (default ``weights/<name>.pth``)."""
    pairs = checkpoint_pairs(experiment.paths.root)
    path = Path(checkpoint) if checkpoint else (pairs[0][0] if pairs else None)
    if path is None:
        raise RvcError(f"Experiment {experiment.name!r} has no checkpoint to export yet: train it first")
    ckpt = load_checkpoint(path)
    c = experiment.config
    hps = {k: v for k, v in experiment.model_config.items() if k in ("train", "data", "model")}
    cfg = SynthesizerConfig.from_hparams(hps, c.version, c.use_f0)
    check_state(Synthesizer(cfg), ckpt["model"], str(path))
    out = Path(out) if out else Path("weights") / f"{experiment.name}.pth"
    out.parent.mkdir(parents=True, exist_ok=True)
    card = model_card(experiment, int(ckpt.get("iteration", 0)), int(ckpt.get("step", 0)))
    save_atomic(small_model(ckpt["model"], cfg, c.sample_rate, **card), out)
    return out.resolve()


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    path = folder / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a kill
    return rows
