"""RMVPE pitch estimation: our implementation of the network, its log-mel front end and its decoder, loading the
published ``rmvpe.pt`` state dict (key names and shapes as in that file).

The network (Wei et al., "RMVPE: A Robust Model for Vocal Pitch Estimation in Polyphonic Music", 2023) is a
deep U-Net over the log-mel spectrogram followed by a bidirectional GRU and a 360-bin classifier (20-cent bins
from about 31.7 Hz). Frames run at 100/s (hop 160 at 16 kHz).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from rvc.nn.mel import MelConfig, log_mel

SAMPLE_RATE = 16000
HOP = 160
N_FFT = 1024
N_MELS = 128
FMIN, FMAX = 30.0, 8000.0
LOG_CLAMP = 1e-5
N_BINS = 360
CENTS_OFFSET = 1997.3794084376191  # cents of bin 0 (relative to 10 Hz)
VOICING_THRESHOLD = 0.03
BN_MOMENTUM = 0.01


# the log-mel front end: centred Hann STFT (reflect padding), |X|, HTK-scale filters, 1 + len // 160 frames
MEL = MelConfig(SAMPLE_RATE, N_FFT, HOP, N_MELS, fmin=FMIN, fmax=FMAX, htk=True, center=True, log_clamp=LOG_CLAMP)


# --- network -------------------------------------------------------------------------------------------------


class ResidualConv(nn.Module):
    """Two 3x3 conv-BN-ReLU layers plus a (1x1-projected when channels change) skip connection."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM),
            nn.ReLU(),
        )
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + (self.shortcut(x) if self.shortcut is not None else x)


class EncoderStage(nn.Module):
    """``n_blocks`` residual convs; returns the stage output (for the skip) and its 2x2 average-pooled copy."""

    def __init__(self, c_in: int, c_out: int, n_blocks: int, pool: bool = True) -> None:
        super().__init__()
        self.conv = nn.ModuleList([ResidualConv(c_in if i == 0 else c_out, c_out) for i in range(n_blocks)])
        self.pool = nn.AvgPool2d(2) if pool else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        for block in self.conv:
            x = block(x)
        return (x, self.pool(x)) if self.pool is not None else x


class DecoderStage(nn.Module):
    """2x transposed-conv upsampling, concatenation with the encoder skip, then ``n_blocks`` residual convs."""

    def __init__(self, c_in: int, c_out: int, n_blocks: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM),
            nn.ReLU(),
        )
        self.conv2 = nn.ModuleList([ResidualConv(2 * c_out if i == 0 else c_out, c_out) for i in range(n_blocks)])

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.conv1(x), skip], dim=1)
        for block in self.conv2:
            x = block(x)
        return x


class Encoder(nn.Module):
    def __init__(self, depth: int, n_blocks: int, width: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(1, momentum=BN_MOMENTUM)
        widths = [1] + [width * 2**i for i in range(depth)]
        self.layers = nn.ModuleList([EncoderStage(widths[i], widths[i + 1], n_blocks) for i in range(depth)])
        self.out_channels = widths[-1] * 2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.bn(x)
        skips = []
        for stage in self.layers:
            skip, x = stage(x)
            skips.append(skip)
        return x, skips


class Intermediate(nn.Module):
    def __init__(self, c_in: int, c_out: int, depth: int, n_blocks: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [EncoderStage(c_in if i == 0 else c_out, c_out, n_blocks, pool=False) for i in range(depth)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.layers:
            x = stage(x)
        return x


class Decoder(nn.Module):
    def __init__(self, c_in: int, depth: int, n_blocks: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([DecoderStage(c_in // 2**i, c_in // 2 ** (i + 1), n_blocks) for i in range(depth)])

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for stage, skip in zip(self.layers, reversed(skips), strict=True):
            x = stage(x, skip)
        return x


class DeepUnet(nn.Module):
    def __init__(self, n_blocks: int = 4, depth: int = 5, inter_depth: int = 4, width: int = 16) -> None:
        super().__init__()
        self.encoder = Encoder(depth, n_blocks, width)
        c = self.encoder.out_channels
        self.intermediate = Intermediate(c // 2, c, inter_depth, n_blocks)
        self.decoder = Decoder(c, depth, n_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = self.encoder(x)
        return self.decoder(self.intermediate(x), skips)


class BiGRU(nn.Module):
    def __init__(self, n_in: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.gru = nn.GRU(n_in, hidden, num_layers=layers, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[0]


class RMVPENet(nn.Module):
    """Log-mel ``[B, 128, T]`` (T a multiple of 32) -> pitch salience ``[B, T, 360]`` in [0, 1]."""

    def __init__(self, n_blocks: int = 4, n_gru: int = 1, width: int = 16) -> None:
        super().__init__()
        self.unet = DeepUnet(n_blocks, width=width)
        self.cnn = nn.Conv2d(width, 3, 3, padding=1)
        self.fc = nn.Sequential(BiGRU(3 * N_MELS, 256, n_gru), nn.Linear(512, N_BINS), nn.Dropout(0.25), nn.Sigmoid())

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.transpose(-1, -2).unsqueeze(1)  # [B, 1, T, 128]
        x = self.cnn(self.unet(x))  # [B, 3, T, 128]
        x = x.transpose(1, 2).flatten(-2)  # [B, T, 384]
        return self.fc(x)


# --- decoding -----------------------------------------------------------------------------------------------


def decode(salience: np.ndarray, threshold: float = VOICING_THRESHOLD) -> np.ndarray:
    """Salience ``[T, 360]`` -> F0 in Hz ``[T]`` (0 = unvoiced): weighted mean of the cents of the 9 bins around
    each frame's peak; frames whose peak salience is at most ``threshold`` are unvoiced."""
    n = salience.shape[0]
    peak = np.argmax(salience, axis=1)
    padded = np.pad(salience, ((0, 0), (4, 4)))
    cents = np.pad(20.0 * np.arange(N_BINS) + CENTS_OFFSET, 4)
    idx = peak[:, None] + np.arange(9)[None, :]  # window [peak-4, peak+4] in padded coordinates
    window = padded[np.arange(n)[:, None], idx]
    mean_cents = (window * cents[idx]).sum(1) / window.sum(1)
    mean_cents[salience.max(axis=1) <= threshold] = 0.0
    f0 = 10.0 * 2.0 ** (mean_cents / 1200.0)
    f0[f0 == 10.0] = 0.0
    return f0


# --- the estimator ------------------------------------------------------------------------------------------


class RMVPE:
    """Loads ``rmvpe.pt`` once and estimates F0 for 16 kHz audio."""

    def __init__(
        self, state: dict[str, torch.Tensor] | Path | str, device: str | torch.device = "cpu", half: bool = False
    ) -> None:
        weights = state if isinstance(state, dict) else torch.load(state, map_location="cpu", weights_only=True)
        self.device = torch.device(device)
        self.net = RMVPENet()
        self.net.load_state_dict(weights, strict=True)
        self.net.eval().to(self.device)
        self.half = half and self.device.type == "cuda"
        if self.half:
            self.net.half()

    @torch.inference_mode()
    def salience(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mel [128, T], salience [T, 360])`` for a mono 16 kHz signal; T = 1 + len // 160."""
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)[None]
        mel = log_mel(x, MEL)
        frames = mel.shape[-1]
        pad = -frames % 32
        if pad:
            mel_in = torch.nn.functional.pad(mel, (0, pad), mode="constant")
        else:
            mel_in = mel
        sal = self.net(mel_in.half() if self.half else mel_in)[:, :frames]
        return mel[0].float().cpu().numpy(), sal[0].float().cpu().numpy()

    def f0(self, audio: np.ndarray, threshold: float = VOICING_THRESHOLD) -> np.ndarray:
        """F0 in Hz ``[1 + len // 160]``, 0 where unvoiced."""
        return decode(self.salience(audio)[1], threshold)
