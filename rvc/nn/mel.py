"""The one log-mel front end: training's mel loss, RMVPE and FCPE all compute STFT -> magnitude -> mel -> log here.

What they differ in is a :class:`MelConfig`: the STFT size and hop, centring (torch's own padding) or the
hop-aligned padding of an un-centred STFT, the filter bank's band edges and mel scale (HTK or Slaney), how the
magnitude is taken (``|X|``, or ``sqrt(re² + im² + eps)`` as the reference trains, which keeps the gradient of
silent bins finite) and the floor under the log. The filters are triangular with Slaney's area normalisation
in both scales, float32, as librosa's ``mel(norm="slaney")`` builds them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int
    n_fft: int
    hop: int
    n_mels: int
    win: int | None = None  # window length; None: n_fft
    fmin: float = 0.0
    fmax: float | None = None  # None: the Nyquist frequency
    htk: bool = False  # the HTK mel formula; False: Slaney's (linear below 1 kHz)
    center: bool = False  # torch.stft's centring (1 + len // hop frames); False: hop-aligned (len // hop)
    eps: float | None = None  # magnitude sqrt(re² + im² + eps); None: |X|
    log_clamp: float = 1e-5  # log(max(mel, log_clamp))

    @property
    def win_length(self) -> int:
        return self.win if self.win is not None else self.n_fft

    @property
    def f_max(self) -> float:
        return self.fmax if self.fmax is not None else self.sample_rate / 2


# --- the filter bank -----------------------------------------------------------------------------------------


def hz_to_mel(f: np.ndarray | float, htk: bool) -> np.ndarray:
    """Hz to mel: the HTK formula, or Slaney's (linear below 1 kHz, logarithmic above)."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return np.asarray(2595.0 * np.log10(1.0 + f / 700.0))
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def mel_to_hz(m: np.ndarray | float, htk: bool) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return np.asarray(700.0 * (10.0 ** (m / 2595.0) - 1.0))
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), (200.0 / 3) * m)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    """Triangular mel filters with area (Slaney) normalisation, ``[n_mels, n_fft//2 + 1]`` float32."""
    fft_hz = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    widths = np.diff(edges)
    rising = (fft_hz[None, :] - edges[:-2, None]) / widths[:-1, None]
    falling = (edges[2:, None] - fft_hz[None, :]) / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _basis(cfg: MelConfig, device: str) -> torch.Tensor:
    bank = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.f_max, cfg.htk)
    # cached tensors outlive the call: never inference tensors, which training could not save for backward
    with torch.inference_mode(False):
        return torch.from_numpy(bank).to(device)


@functools.lru_cache(maxsize=16)
def _window(n: int, device: str) -> torch.Tensor:
    with torch.inference_mode(False):
        return torch.hann_window(n, device=device)


# --- STFT -> magnitude -> log-mel ----------------------------------------------------------------------------


def hop_aligned_padding(y: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``y [..., T]`` reflect-padded by ``(n_fft - hop) / 2`` on each side, so an un-centred STFT gives
    ``T // hop`` frames, frame ``i`` centred on sample ``i·hop + hop/2``. An input shorter than one window is
    padded on the right up to a whole window, with zeros where it is too short to reflect."""
    left = (n_fft - hop) // 2
    right = max(left, n_fft - y.shape[-1] - left)
    mode = "reflect" if right < y.shape[-1] else "constant"
    shape = y.shape
    flat = y.reshape(-1, 1, shape[-1])  # F.pad's reflect mode wants [N, C, T]
    return F.pad(flat, (left, right), mode=mode).reshape(*shape[:-1], -1)


def magnitude(y: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Linear magnitude spectrogram ``[..., n_fft/2 + 1, frames]`` of ``y [..., T]`` (Hann window)."""
    y = y.float()
    if not cfg.center:
        y = hop_aligned_padding(y, cfg.n_fft, cfg.hop)
    window = _window(cfg.win_length, str(y.device))
    spec = torch.stft(y, cfg.n_fft, cfg.hop, cfg.win_length, window=window, center=cfg.center, return_complex=True)
    if cfg.eps is None:
        return spec.abs()
    return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + cfg.eps)


def mel_of(spec: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Log-mel ``[..., n_mels, frames]`` of a magnitude spectrogram."""
    basis = _basis(cfg, str(spec.device))
    return torch.log(torch.clamp(basis @ spec.float(), min=cfg.log_clamp))


def log_mel(y: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Log-mel ``[..., n_mels, frames]`` of ``y [..., T]``."""
    return mel_of(magnitude(y, cfg), cfg)


def power_mel(y: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Mel power spectrogram ``[..., n_mels, frames]`` of ``y [..., T]`` (the filters applied to ``|X|²``, no
    log), the input of the GE2E speaker encoder."""
    spec = magnitude(y, cfg)
    return _basis(cfg, str(spec.device)) @ spec.pow(2)
