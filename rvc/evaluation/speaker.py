"""The GE2E speaker encoder (Wan et al. 2018, the published weights of Resemblyzer): a recording in, a unit
256-d embedding of its voice out; the cosine of two embeddings says how alike two voices sound (1 = the same).

The network is three LSTM layers (40 -> 256) over 40-band mel power frames (16 kHz, 25 ms window, 10 ms hop),
the last layer's final hidden state through a linear layer and a ReLU, scaled to unit length. A recording is
embedded as the unit mean of the embeddings of 1.6 s partials (160 frames) taken 1.3 times a second; the last
partial counts when the recording covers at least 75 % of it. Before that the recording is brought up to
−30 dBFS (never down) and long silences are cut out (Resemblyzer uses WebRTC's voice detector there; this one
keeps the 30 ms windows whose energy is within 40 dB of the loudest, smoothed and widened as it does).

The weights file is Resemblyzer's ``pretrained.pt`` (a dict whose ``model_state`` holds ``lstm.*`` and
``linear.*``), read with ``weights_only=True``; the code is this module's own.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rvc.core.errors import WeightsError
from rvc.nn.mel import MelConfig, power_mel

SAMPLE_RATE = 16000
MEL = MelConfig(sample_rate=SAMPLE_RATE, n_fft=400, hop=160, n_mels=40, center=True)
PARTIAL_FRAMES = 160  # 1.6 s
PARTIALS_PER_SECOND = 1.3
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0
VAD_WINDOW = 480  # 30 ms
VAD_SMOOTH = 8  # windows in the moving average of the voiced flags
VAD_WIDEN = 6  # windows of silence kept around speech
VAD_RANGE_DB = 40.0


class GE2E(nn.Module):
    """LSTM(40, 256, 3) -> last hidden state -> Linear(256, 256) -> ReLU -> unit length."""

    def __init__(self, n_mels: int = 40, hidden: int = 256, layers: int = 3, dim: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_mels, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, dim)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:  # [B, frames, n_mels] -> [B, dim]
        _, (h, _) = self.lstm(mels)
        e = torch.relu(self.linear(h[-1]))
        return e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)


def normalize_volume(x: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``x`` raised to ``target_dbfs`` mean power (a louder recording is left as it is)."""
    power = float(np.mean(np.square(x, dtype=np.float64)))
    if power <= 0:
        return x
    change = target_dbfs - 10 * math.log10(power)
    return x if change < 0 else (x * 10 ** (change / 20)).astype(np.float32)


def trim_long_silences(x: np.ndarray) -> np.ndarray:
    """``x`` without its long silences: 30 ms windows are voiced when their energy is within 40 dB of the
    loudest window; the flags are smoothed (moving average of 8) and widened by 6 windows each side."""
    n = len(x) // VAD_WINDOW
    if n < VAD_SMOOTH:
        return x
    frames = x[: n * VAD_WINDOW].reshape(n, VAD_WINDOW).astype(np.float64)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    voiced = (energy > energy.max() - VAD_RANGE_DB).astype(np.float64)
    smooth = np.convolve(voiced, np.ones(VAD_SMOOTH) / VAD_SMOOTH, mode="same") > 0.5
    kept = np.convolve(smooth.astype(np.float64), np.ones(2 * VAD_WIDEN + 1), mode="same") > 0
    if not kept.any():
        return x
    return frames[kept].reshape(-1).astype(np.float32)


def partial_starts(n_samples: int) -> list[int]:
    """The first frame of each 160-frame partial of a recording of ``n_samples`` (at least one)."""
    n_frames = int(math.ceil((n_samples + 1) / MEL.hop))
    step = max(1, int(round(SAMPLE_RATE / PARTIALS_PER_SECOND / MEL.hop)))
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    if len(starts) > 1:
        coverage = (n_samples - starts[-1] * MEL.hop) / (PARTIAL_FRAMES * MEL.hop)
        if coverage < MIN_COVERAGE:
            starts.pop()
    return starts


class SpeakerEncoder:
    """Embeds recordings (mono float32 at 16 kHz) with a loaded :class:`GE2E`."""

    def __init__(self, model: GE2E, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.device = device

    def partials(self, x16: np.ndarray) -> torch.Tensor:
        """The mel partials ``[n, 160, 40]`` of a prepared recording."""
        starts = partial_starts(len(x16))
        end = (starts[-1] + PARTIAL_FRAMES) * MEL.hop
        x = np.pad(x16, (0, max(0, end - len(x16))))
        mel = power_mel(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device), MEL).T
        return torch.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])

    @torch.inference_mode()
    def embed(self, x16: np.ndarray) -> np.ndarray:
        """The unit 256-d embedding of one recording."""
        x = trim_long_silences(normalize_volume(np.asarray(x16, np.float32)))
        e = self.model(self.partials(x)).mean(dim=0)
        return (e / e.norm().clamp_min(1e-12)).cpu().numpy().astype(np.float32)

    def embed_many(self, recordings: Sequence[np.ndarray]) -> np.ndarray:
        """The voice of several recordings of one speaker: the unit mean of their embeddings."""
        if not recordings:
            raise ValueError("no recordings to embed")
        e = np.mean([self.embed(x) for x in recordings], axis=0)
        return (e / max(float(np.linalg.norm(e)), 1e-12)).astype(np.float32)


def load_speaker_encoder(path: Path | None = None, device: str = "cpu") -> SpeakerEncoder:
    """The GE2E encoder from ``path`` (default: the ``speaker-ge2e`` weights, fetched when missing).

    Raises:
        WeightsError: the weights are missing (offline) or not a GE2E state.
    """
    if path is None:
        from rvc.hub import weights

        path = weights.ensure("speaker-ge2e")
    try:
        checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
        state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise ValueError("no model_state in it")
        model = GE2E()
        model.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))})
    except (RuntimeError, ValueError, KeyError, OSError, pickle.UnpicklingError) as e:  # torch.load on a bad file
        raise WeightsError(f"{path} is not a GE2E speaker-encoder weights file: {e}") from e
    return SpeakerEncoder(model, device)
