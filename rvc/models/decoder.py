"""The NSF-HiFiGAN (with pitch) and HiFi-GAN (without) decoders of the RVC synthesizer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from rvc.models.modules import LRELU, same_padding, wn

# --- decoders -------------------------------------------------------------------------------------------------


class ResBlock(nn.Module):
    """HiFi-GAN residual block type 1: three pairs of (dilated, plain) convolutions with LeakyReLUs."""

    def __init__(self, channels: int, kernel: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            [wn(nn.Conv1d(channels, channels, kernel, dilation=d, padding=same_padding(kernel, d))) for d in dilations]
        )
        self.convs2 = nn.ModuleList(
            [wn(nn.Conv1d(channels, channels, kernel, padding=same_padding(kernel))) for _ in dilations]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU)), LRELU))
        return x


class HarmonicSource(nn.Module):
    """NSF source (``m_source``): a sine at F0 (noise where unvoiced), merged by Linear(1, 1) and tanh."""

    def __init__(self, sample_rate: int, sine_amp: float = 0.1, noise_std: float = 0.003) -> None:
        super().__init__()
        self.sample_rate, self.sine_amp, self.noise_std = sample_rate, sine_amp, noise_std
        self.l_linear = nn.Linear(1, 1)

    def forward(self, f0: torch.Tensor, upp: int, phase0: float = 0.0) -> torch.Tensor:
        """f0 ``[B, T]`` Hz -> source ``[B, 1, T·upp]``; ``phase0``: the sine's phase (cycles) before the first
        sample (live conversion continues the phase of the audio before it)."""
        with torch.no_grad():
            step = (f0.double() / self.sample_rate) % 1  # cycles per sample, per frame
            step = step.repeat_interleave(upp, dim=1)
            phase = (torch.cumsum(step, dim=1) + phase0) % 1  # float64: exact over long inputs
            sine = torch.sin(2 * math.pi * phase).to(f0.dtype) * self.sine_amp
            uv = (f0 > 0).to(f0.dtype).repeat_interleave(upp, dim=1)
            noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
            source = sine * uv + noise_amp * torch.randn_like(sine)
        merged = torch.tanh(self.l_linear(source.unsqueeze(-1).to(self.l_linear.weight.dtype)))
        return merged.transpose(1, 2)


class Decoder(nn.Module):
    """HiFi-GAN generator; with ``sample_rate`` set, the NSF variant whose every stage adds the harmonic source."""

    def __init__(
        self, in_channels: int, kernels: Sequence[int], dilations: Sequence[Sequence[int]], rates: Sequence[int],
        initial: int, up_kernels: Sequence[int], gin: int, sample_rate: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.n_kernels = len(kernels)
        self.upp = math.prod(rates)
        self.m_source = HarmonicSource(sample_rate) if sample_rate else None
        self.conv_pre = nn.Conv1d(in_channels, initial, 7, padding=3)
        self.cond = nn.Conv1d(gin, initial, 1)
        self.ups = nn.ModuleList()
        self.noise_convs = nn.ModuleList() if sample_rate else None
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(rates, up_kernels, strict=True)):
            c = initial // 2 ** (i + 1)
            up = nn.ConvTranspose1d(initial // 2**i, c, k, u, padding=(k - u) // 2)
            nn.init.normal_(up.weight, 0.0, 0.01)
            self.ups.append(wn(up))
            if self.noise_convs is not None:
                s = math.prod(rates[i + 1 :])
                self.noise_convs.append(
                    nn.Conv1d(1, c, 2 * s, s, padding=s // 2) if i + 1 < len(rates) else nn.Conv1d(1, c, 1)
                )
            for kr, d in zip(kernels, dilations, strict=True):
                self.resblocks.append(ResBlock(c, kr, d))
        self.conv_post = nn.Conv1d(c, 1, 7, padding=3, bias=False)

    # inference in windows of this many frames, each with OVERLAP frames of context on both sides (more than the
    # decoder's receptive field, at most 10.5 frames either side at every rate and version: tests/test_models.py
    # checks it, so the joined windows equal one pass); small windows keep every tensor in the CPU caches and out
    # of fresh mmap'd pages (tensors over 32 MB are mapped and zero-filled on each allocation). Every window has
    # the same length (the first and last take more context): oneDNN prepares its kernels for each new input length
    # (about 0.5 s in fp32 and 2 s in bf16 for a whole decoder), and a process that converted once keeps them
    WINDOW = 400
    OVERLAP = 12

    def forward(self, x: torch.Tensor, f0: torch.Tensor | None, g: torch.Tensor, phase0: float = 0.0) -> torch.Tensor:
        source = self.m_source(f0, self.upp, phase0) if self.m_source is not None else None
        frames = x.shape[-1]
        if self.training or torch.is_grad_enabled() or frames <= self.WINDOW + 2 * self.OVERLAP:
            return self._run(x, source, g)
        pieces, full = [], self.WINDOW + 2 * self.OVERLAP
        for start in range(0, frames, self.WINDOW):
            lo, hi = max(0, start - self.OVERLAP), min(frames, start + self.WINDOW + self.OVERLAP)
            lo = max(0, min(lo, hi - full))  # the first and last windows as long as the others: more context
            hi = min(frames, max(hi, lo + full))
            src = source[..., lo * self.upp : hi * self.upp] if source is not None else None
            y = self._run(x[..., lo:hi], src, g)
            keep = min(self.WINDOW, frames - start)
            pieces.append(y[..., (start - lo) * self.upp : (start - lo + keep) * self.upp])
        return torch.cat(pieces, dim=-1)

    def _run(self, x: torch.Tensor, source: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x) + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU))
            if source is not None and self.noise_convs is not None:
                x = x + self.noise_convs[i](source)
            blocks = self.resblocks[i * self.n_kernels : (i + 1) * self.n_kernels]
            x = sum(block(x) for block in blocks) / self.n_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))  # the last LeakyReLU uses torch's default slope 0.01
