"""One training step, as the reference takes it: the discriminator on the real and generated slices, then the
generator (adversarial, feature matching, mel and KL losses), each with its AdamW step; and the guard that turns
a GPU out-of-memory error into the batch size that fits."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rvc.core.errors import RvcError
from rvc.models.discriminator import MultiPeriodDiscriminator
from rvc.models.synthesizer import Synthesizer, SynthesizerConfig, slice_segments
from rvc.steps.train.config import TrainConfig
from rvc.steps.train.data import spec_to_mel, wav_to_mel
from rvc.steps.train.losses import discriminator_loss, feature_loss, generator_loss, kl_loss

AUTOCAST = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class State:
    """The networks and what updates them."""

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


def new_state(hps: dict[str, Any], cfg: SynthesizerConfig, config: TrainConfig, device: torch.device) -> State:
    """Fresh networks on ``device`` with their optimizers (the reference's AdamW), schedulers and grad scaler."""
    t = hps["train"]
    amp_dtype = AUTOCAST[config.precision]
    if amp_dtype is not None and device.type == "cpu" and config.precision == "fp16":
        raise RvcError("fp16 needs a CUDA GPU; on CPU use fp32 (or bf16)")
    net_g = Synthesizer(cfg).to(device)
    net_d = MultiPeriodDiscriminator(cfg.version, config.discriminator_scale).to(device)
    # the fused AdamW (CUDA and CPU): one kernel per step, no temporaries, no host sync under the
    # grad scaler; its state_dict is the plain AdamW's, so checkpoints move freely between CPU and GPU runs
    opt: dict[str, Any] = dict(
        lr=t["learning_rate"], betas=tuple(t["betas"]), eps=t["eps"], fused=device.type in ("cuda", "cpu")
    )
    optim_g, optim_d = torch.optim.AdamW(net_g.parameters(), **opt), torch.optim.AdamW(net_d.parameters(), **opt)
    return State(
        net_g, net_d, optim_g, optim_d,
        torch.optim.lr_scheduler.ExponentialLR(optim_g, t["lr_decay"]), torch.optim.lr_scheduler.ExponentialLR(optim_d, t["lr_decay"]),
        torch.amp.GradScaler(device.type, enabled=config.precision == "fp16"), hps, cfg.f0, device, amp_dtype,
    )  # fmt: skip


def unwrap(net: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the network itself)."""
    inner = getattr(net, "module", net)
    return inner if isinstance(inner, nn.Module) else net


def grad_norm(params: Any) -> torch.Tensor:
    """The 2-norm over all gradients, as a tensor on their device (read with the losses: one sync per step)."""
    grads = [p.grad.detach() for p in params if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads, 2.0) if grads else torch.zeros(())


def autocast(s: State) -> torch.autocast:
    """The step's precision: autocast to bf16/fp16 on its device, or a no-op for fp32."""
    return torch.autocast(s.device.type, dtype=s.autocast_dtype, enabled=s.autocast_dtype is not None)


def train_step(s: State, batch: tuple[torch.Tensor, ...], probe: bool = False) -> dict[str, float]:
    """The discriminator step then the generator step on one batch; returns the losses and grad norms.
    ``probe``: forward and backward only (no parameter or optimizer change), to measure memory."""
    d, t = s.hps["data"], s.hps["train"]
    phone, phone_len, pitch, pitchf, spec, spec_len, wav, _, sid = (x.to(s.device, non_blocking=True) for x in batch)
    with autocast(s):
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
    fmap_r, g, fmap_g = _judge_generated(s, y, y_hat)
    y_hat_mel = wav_to_mel(y_hat.squeeze(1), d)
    loss_mel = F.l1_loss(y_mel, y_hat_mel) * t["c_mel"]
    loss_kl = kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * t["c_kl"]
    loss_fm = feature_loss(fmap_r, fmap_g)
    loss_adv = generator_loss(g)
    loss_g = loss_adv + loss_fm + loss_mel + loss_kl
    s.optim_g.zero_grad(set_to_none=True)
    # gradients of the generator only: the discriminator's from this loss are never used (the reference zeroes
    # them before its next step), so autograd leaves out their weight gradients
    s.scaler.scale(loss_g).backward(inputs=[p for p in s.net_g.parameters() if p.requires_grad])
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
        "loss_d": loss_d, "loss_g": loss_g, "loss_adv": loss_adv, "loss_fm": loss_fm, "loss_mel": loss_mel,
        "loss_kl": loss_kl, "grad_norm_d": gn_d, "grad_norm_g": gn_g,
    }  # fmt: skip
    # one device-to-host copy for all of them: on a GPU each .item() would stall the queue of kernels
    numbers = torch.stack([v.detach().float().reshape(()).to(s.device) for v in values.values()]).tolist()
    return dict(zip(values, numbers, strict=True))


def _judge_generated(
    s: State, y: torch.Tensor, y_hat: torch.Tensor
) -> tuple[list[list[torch.Tensor]], list[torch.Tensor], list[list[torch.Tensor]]]:
    """The updated discriminator on the real slices (feature-matching targets: no graph) and on the generated
    ones: (real feature maps, fake logits, fake feature maps). The network itself, not its DDP wrapper: none of
    its gradients are taken here, so there is nothing to all-reduce."""
    net_d = unwrap(s.net_d)
    assert isinstance(net_d, MultiPeriodDiscriminator)
    with autocast(s):
        with torch.no_grad():
            fmap_r = [fmap for _, fmap in net_d.judge(y)]
        fake = net_d.judge(y_hat)
    return fmap_r, [logits for logits, _ in fake], [fmap for _, fmap in fake]


def guarded_step(s: State, batch: tuple[torch.Tensor, ...], batch_size: int) -> dict[str, float]:
    """:func:`train_step`; when the GPU runs out of memory, an RvcError that says which batch size fits."""
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
        f"The GPU ran out of memory at batch size {batch_size}; {hint}. "
        "The last checkpoint is kept: start again with the smaller batch size and training resumes from it."
    )


def _largest_fitting_batch(s: State, batch: tuple[torch.Tensor, ...]) -> int:
    """Tries forward + backward (no update) on the first n items of ``batch`` (its longest: collate sorts them),
    halving n until it fits; 0 when nothing does."""
    n = batch[0].shape[0] // 2
    while n >= 1:
        free_memory(s)
        try:
            train_step(s, tuple(x[:n] for x in batch), probe=True)
            return n
        except torch.OutOfMemoryError:
            pass
        n //= 2  # outside the handler, so the failed try's tensors are already released
    return 0


def free_memory(s: State) -> None:
    """Gradients dropped, the grad scaler's step state reset and the GPU cache emptied (after a failed step)."""
    s.optim_g.zero_grad(set_to_none=True)
    s.optim_d.zero_grad(set_to_none=True)
    if s.scaler.is_enabled():  # the failed step may have unscaled (or stepped) an optimizer: start afresh
        s.scaler.update(s.scaler.get_scale())
    if s.device.type == "cuda":
        gc.collect()  # tensors kept alive by reference cycles (frames of the failed step)
        torch.cuda.empty_cache()
