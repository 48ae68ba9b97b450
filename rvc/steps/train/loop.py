"""Step 3: training the RVC generator and discriminator, as the reference trains them: the epoch loop, resuming
and saving.

AdamW (lr 1e-4, betas 0.8/0.99, eps 1e-9) for both nets, learning rate × 0.999875 after every epoch; the step
itself (losses, optimizers) is :mod:`rvc.steps.train.step`, what is recorded :mod:`rvc.steps.train.metrics`.

What the reference does differently, on purpose:
- resume continues at the epoch after the saved one (the reference repeats it), with the step count,
  scheduler and grad-scaler state restored;
- every checkpoint is written atomically; a damaged newest pair is skipped for the previous good one;
- ``batch_size`` is per process (the reference multiplies it by the GPU count);
- pretrained files are loaded strictly, and one that does not fit is refused with what differs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rvc.core.errors import ModelFileError, RvcError
from rvc.core.experiment import Experiment
from rvc.core.locking import experiment_lock
from rvc.core.progress import Progress, ProgressFn
from rvc.core.workers import mp_context
from rvc.evaluation.judge import Recording
from rvc.evaluation.sources import load_probes
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
from rvc.models.synthesizer import Synthesizer, SynthesizerConfig, check_state
from rvc.nn.devices import resolve_device
from rvc.steps.train.card import model_card
from rvc.steps.train.config import TrainConfig, TrainResult, TrainStatus
from rvc.steps.train.data import BucketSampler, Item, TrainSet, build_filelist, collate, ready_stems
from rvc.steps.train.evaluate import TrainingEvaluator, best_path, make_evaluator
from rvc.steps.train.holdout import Split, ensure_split
from rvc.steps.train.metrics import MetricsWriter, gpu_memory
from rvc.steps.train.step import State, guarded_step, new_state, unwrap

logger = logging.getLogger(__name__)

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


def compile_fixed_shapes(net_g: Synthesizer, net_d: nn.Module, backend: str = "inductor") -> None:
    """``torch.compile`` for the decoder and the discriminator, in place (``Module.compile``: parameter names, and
    so the checkpoints, stay as they are). Both see the same shapes at every step (``segment_size`` slices), so
    they compile once per batch size; the encoders and the flow see every item length and stay eager. It pays on
    a GPU, where these many small kernels are launch-bound; the first step takes the compile time."""
    net_g.dec.compile(dynamic=False, backend=backend)
    mpd = unwrap(net_d)
    assert isinstance(mpd, MultiPeriodDiscriminator)
    for d in mpd.discriminators:  # each one: the step calls them through forward and through judge
        d.compile(dynamic=False, backend=backend)


def data_workers(asked: int | None, device: torch.device) -> int:
    """Loader processes: as asked, else none on CPU (they would take the cores the model needs) and up to 4
    beside a GPU, so reading and padding the next batches overlaps the step."""
    if asked is not None:
        return max(0, asked)
    if device.type != "cuda":
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


# --- resume and save -----------------------------------------------------------------------------------------


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
        load_optional(s.optim_g, as_implemented_here(s.optim_g, g.get("optimizer")))
        load_optional(s.optim_d, as_implemented_here(s.optim_d, d.get("optimizer")))
        load_optional(s.sched_g, g.get("scheduler"))
        load_optional(s.sched_d, d.get("scheduler"))
        load_optional(s.scaler, g.get("scaler"))
        epoch = int(g.get("iteration", 1))
        named = step_of(g_path)  # RVC WebUI's checkpoints carry no step: their file name does (but the "latest" one)
        step = int(g.get("step", named if named != LATEST_STEP else 0))
        return epoch + 1, step, g_path
    return 1, 0, None


def as_implemented_here(optimizer: torch.optim.Optimizer, state: Any) -> Any:
    """A saved optimizer state with this run's implementation flags (fused, foreach, capturable): a checkpoint
    from a CPU run, or from RVC WebUI, resumes fused on a GPU, and a GPU one plain on a CPU."""
    if not (isinstance(state, dict) and isinstance(state.get("param_groups"), list)):
        return state
    here = {
        k: optimizer.param_groups[0][k] for k in ("fused", "foreach", "capturable") if k in optimizer.param_groups[0]
    }
    return {**state, "param_groups": [{**group, **here} for group in state["param_groups"]]}


def load_optional(obj: Any, state: Any) -> None:
    """Restores a saved optimizer, scheduler or scaler state where there is one that fits (else a warning)."""
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
    g_model = unwrap(s.net_g).state_dict()
    common = {"iteration": epoch, "step": step, "learning_rate": s.hps["train"]["learning_rate"], "format": FORMAT}
    g_path, d_path = folder / f"G_{name}.pth", folder / f"D_{name}.pth"
    # D first: a kill between the two leaves a G/D pair of the previous save (a pair is found by its G)
    d_state = {"model": unwrap(s.net_d).state_dict(), "optimizer": s.optim_d.state_dict()}
    save_atomic({**d_state, "scheduler": s.sched_d.state_dict(), **common}, d_path)
    g_state = {"model": g_model, "optimizer": s.optim_g.state_dict(), "scheduler": s.sched_g.state_dict()}
    save_atomic({**g_state, "scaler": s.scaler.state_dict(), "config": s.hps, **common}, g_path)
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
    extra: dict[str, Any] | None = None,
) -> Path:
    out_dir = Path(config.weights_dir or "weights")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.pth"
    card = {**model_card(experiment, epoch, step), **(extra or {})}
    save_atomic(small_model(state, cfg, experiment.config.sample_rate, **card), path)
    return path.resolve()


def export(experiment: Experiment, checkpoint: Path | None = None, out: Path | None = None) -> Path:
    """Writes a small model from a checkpoint (default: the newest) to ``out`` (default ``weights/<name>.pth``)."""
    pairs = checkpoint_pairs(experiment.paths.root)
    path = Path(checkpoint) if checkpoint else (pairs[0][0] if pairs else None)
    if path is None:
        raise RvcError(f"Experiment {experiment.name!r} has no checkpoint to export yet: train it first")
    ckpt = load_checkpoint(path)
    c = experiment.config
    cfg = SynthesizerConfig.from_hparams(_hparams(experiment), c.version, c.use_f0)
    check_state(Synthesizer(cfg), ckpt["model"], str(path))
    out = Path(out) if out else Path("weights") / f"{experiment.name}.pth"
    out.parent.mkdir(parents=True, exist_ok=True)
    card = model_card(experiment, int(ckpt.get("iteration", 0)), int(ckpt.get("step", 0)))
    save_atomic(small_model(ckpt["model"], cfg, c.sample_rate, **card), out)
    return out.resolve()


def _hparams(experiment: Experiment) -> dict[str, Any]:
    return {k: v for k, v in experiment.model_config.items() if k in ("train", "data", "model")}


# --- the run -------------------------------------------------------------------------------------------------


def train(
    experiment: Experiment,
    config: TrainConfig | None = None,
    on_progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Trains (or resumes) the experiment's model. Single process, or one rank of a ``torchrun`` job.

    ``on_progress`` gets a report after every step: the epoch as the stage (``"epoch 3/20"``), the steps done of
    those planned, the job line as the message and a :class:`TrainStatus` as the detail.

    Raises:
        IncompleteStepError: no features yet (run Step 2b).
        ModelFileError: a pretrained file does not fit (what differs is named).
        ExperimentBusyError: another job runs on this experiment.
    """
    config = config or TrainConfig()
    dist = _distributed()
    rank = dist[0] if dist else 0
    if config.batch_size < 1 or config.epochs < 1 or config.save_every < 1:
        raise RvcError("batch size, epochs and save-every must be at least 1")
    probes = load_probes(config.probes) if not config.no_eval else []  # a bad probe: refused before anything
    stems = ready_stems(experiment)
    split = ensure_split(experiment, stems, config.holdout, write=rank == 0)
    logger.info("%s", split.describe())
    items = build_filelist(experiment, write=rank == 0, exclude=split.excluded)
    device = torch.device(resolve_device(config.device))
    if dist and device.type == "cuda":
        device = torch.device("cuda", dist[2])
    # one training per experiment: the single process, or rank 0 of a distributed job, holds the lock
    lock = experiment_lock(experiment.paths.lock, "training") if rank == 0 else contextlib.nullcontext()
    with lock:
        return _train_locked(experiment, config, items, device, dist, on_progress, stop, (split, stems, probes))


def _distributed() -> tuple[int, int, int] | None:
    """``(rank, world size, local rank)`` under torchrun, else None."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    return None


@dataclass
class _Run:
    """One training run: what the epoch loop reads and updates."""

    s: State
    experiment: Experiment
    config: TrainConfig
    cfg: SynthesizerConfig
    loader: Any
    sampler: BucketSampler
    rank: int
    on_progress: ProgressFn | None
    stop: threading.Event | None
    started_from: str = ""
    warnings: list[str] = field(default_factory=list)
    evaluator: TrainingEvaluator | None = None


def _train_locked(
    experiment: Experiment,
    config: TrainConfig,
    items: list[Item],
    device: torch.device,
    dist: tuple[int, int, int] | None,
    on_progress: ProgressFn | None,
    stop: threading.Event | None,
    held_out: tuple[Split, list[str], list[Recording]],
) -> TrainResult:
    c = experiment.config
    hps = _hparams(experiment)
    rank, world = (dist[0], dist[1]) if dist else (0, 1)
    torch.manual_seed(config.seed + rank)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if dist:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    cfg = SynthesizerConfig.from_hparams(hps, c.version, c.use_f0)
    s = new_state(hps, cfg, config, device)
    warnings: list[str] = []
    start_epoch, step, started_from = _start(s, experiment, config, warnings)
    compiled = config.compile and _can_compile(device, warnings)
    if compiled:
        assert isinstance(s.net_g, Synthesizer)
        compile_fixed_shapes(s.net_g, s.net_d)
    if dist:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        s.net_g, s.net_d = DDP(s.net_g, device_ids=ids), DDP(s.net_d, device_ids=ids)
    data = TrainSet(items, hps, c.use_f0)
    sampler = BucketSampler(data.lengths, config.batch_size, world, rank, config.seed)
    if len(sampler) == 0:
        raise RvcError("no piece has a usable length (between about 0.75 s and 6.75 s): check Step 2a's report")
    loader = _loader(data, sampler, data_workers(config.num_workers, device), device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # the peak of this training, not of earlier work in the process
    run = _Run(s, experiment, config, cfg, loader, sampler, rank, on_progress, stop, started_from, warnings)
    if rank == 0:
        run.evaluator = make_evaluator(experiment, config, *held_out, device, warnings)
    try:
        return _loop(run, start_epoch, step)
    finally:
        if compiled:
            torch._dynamo.reset()  # the compiled code belongs to these module instances: free it with them


def _start(s: State, experiment: Experiment, config: TrainConfig, warnings: list[str]) -> tuple[int, int, str]:
    """Resumes from the newest checkpoint, else loads the pretrained G/D (or none); returns (first epoch, step,
    where it started from)."""
    start_epoch, step, resumed = _resume(s, experiment.paths.root, warnings)
    if resumed is not None:
        return start_epoch, step, f"resumed from {resumed.name}"
    g_path, d_path, warning = pretrained_paths(experiment, config)
    if g_path and d_path:
        _load_pretrained(s.net_g, g_path, "generator")
        _load_pretrained(s.net_d, d_path, "discriminator")
        return start_epoch, step, f"pretrained {g_path.name} / {d_path.name}"
    warnings.append(warning)
    logger.warning(warning)
    return start_epoch, step, "scratch"


def _loader(data: TrainSet, sampler: BucketSampler, workers: int, device: torch.device) -> Any:
    return torch.utils.data.DataLoader(
        data,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        multiprocessing_context=mp_context() if workers else None,  # no fork of the web app's threads
    )


class _Stop(Exception):
    pass


def _loop(run: _Run, start_epoch: int, step: int) -> TrainResult:
    s, config, experiment = run.s, run.config, run.experiment
    metrics = MetricsWriter(experiment.paths.root) if run.rank == 0 else None
    epoch, saved, small, stopped, first_step, stop_reason = start_epoch - 1, None, None, False, step, ""
    cached: list[tuple[torch.Tensor, ...]] | None = [] if config.cache_on_gpu and s.device.type == "cuda" else None
    try:
        for epoch in range(start_epoch, config.epochs + 1):
            run.sampler.set_epoch(epoch)
            s.net_g.train()
            s.net_d.train()
            # from the second epoch, the batches kept on the GPU, in a new order each epoch
            batches = random.Random(config.seed + epoch).sample(cached, len(cached)) if cached else run.loader
            last = time.monotonic()
            for epoch_step, batch in enumerate(batches, 1):
                if cached is not None and len(cached) < len(run.sampler):
                    batch = tuple(x.to(s.device) for x in batch)
                    cached.append(batch)
                losses = guarded_step(s, batch, config.batch_size)
                step += 1
                now = time.monotonic()
                seconds, last = now - last, now  # wall time of the step, waiting for its batch included
                if metrics and (step % config.log_every == 0 or step == 1 or step == config.max_steps):
                    lr = s.optim_g.param_groups[0]["lr"]
                    metrics.write(step, epoch, losses, lr, seconds, gpu_memory(s.device))
                status = TrainStatus(epoch, config.epochs, step, losses, epoch_step, len(run.sampler), first_step)
                _report(run, status)
                if (run.stop is not None and run.stop.is_set()) or (config.max_steps and step >= config.max_steps):
                    stopped = run.stop is not None and run.stop.is_set()
                    raise _Stop
            s.sched_g.step()
            s.sched_d.step()
            save_now = run.rank == 0 and (epoch % config.save_every == 0 or epoch == config.epochs)
            if save_now:
                saved, small = _save(s, experiment, config, epoch, step, run.cfg)
                if metrics:
                    metrics.images(step, s, run.loader)
            stop_reason = _evaluate(run, metrics, epoch, step, save_now)
            if stop_reason:
                if not save_now:  # the stopping epoch is kept, so a resume (or a longer run) goes on from it
                    saved, small = _save(s, experiment, config, epoch, step, run.cfg)
                break
    except (_Stop, KeyboardInterrupt) as e:
        if run.rank == 0 and step > 0:  # mid-epoch: saved as the last whole epoch, so a resume redoes this one
            saved, small = _save(s, experiment, config, epoch - 1, step, run.cfg)
        if isinstance(e, KeyboardInterrupt):
            raise
    finally:
        if metrics:
            metrics.close()
    final = None
    if run.rank == 0 and saved is not None and not stopped:  # finished (or reached max_steps): the final small model
        extra = run.evaluator.card(epoch) if run.evaluator else None
        final = _export(unwrap(s.net_g).state_dict(), run.cfg, experiment, config, experiment.name, epoch, step, extra)
    result = TrainResult(epoch, step, saved, final or small, stopped, run.started_from, run.warnings)
    if run.evaluator is not None and run.evaluator.best.score is not None:
        result.best, result.best_epoch = best_path(experiment, config).resolve(), run.evaluator.best.epoch
    result.stop_reason = stop_reason
    return result


def _evaluate(run: _Run, metrics: MetricsWriter | None, epoch: int, step: int, saved: bool) -> str:
    """Evaluates the generator when it is due; returns why training stops early ("" to go on)."""
    ev, reason = run.evaluator, ""
    if ev is not None and ev.due(epoch, saved):
        net = unwrap(run.s.net_g)
        assert isinstance(net, Synthesizer)
        try:
            evaluation = ev.evaluate(net, epoch, step)
        except Exception as e:  # an evaluation never costs the training: noted, and training goes on
            logger.exception("evaluation at epoch %d failed", epoch)
            run.warnings.append(f"the evaluation at epoch {epoch} failed ({type(e).__name__}: {e}); training went on")
            return ""
        ev.record(evaluation, net, run.cfg, epoch, step, metrics)
        reason = ev.should_stop()
        if reason:
            run.warnings.append(reason)
            logger.warning("%s", reason)
    if run.config.patience > 0 and torch.distributed.is_available() and torch.distributed.is_initialized():
        flag = torch.tensor([1.0 if reason else 0.0], device=run.s.device)  # rank 0 decides; every rank stops
        torch.distributed.broadcast(flag, 0)
        if flag.item() and not reason:
            reason = "stopped early (rank 0's evaluation)"
    return reason


def _report(run: _Run, status: TrainStatus) -> None:
    """The step's progress: the epoch as the stage (a job logs a line as each begins), steps done of those
    planned (the whole epochs, or ``max_steps`` when that ends the run sooner), and the status as the detail."""
    if run.on_progress is None:
        return
    per = max(status.steps_per_epoch, 1)
    done, total = (status.epoch - 1) * per + status.epoch_step, max(status.epochs, 1) * per
    max_steps = run.config.max_steps
    if max_steps and status.step * total > done * max_steps:
        done, total = status.step, max_steps
    mel = status.losses.get("loss_mel")
    message = f"epoch {status.epoch}/{status.epochs}, step {status.step}" + (f", mel loss {mel:.2f}" if mel else "")
    run.on_progress(Progress(f"epoch {status.epoch}/{status.epochs}", done, total, message, status))
