"""Synthetic audio for the tests: numpy signals, WAV writing, and files in other formats made by the ffmpeg CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from scipy.io import wavfile

FFMPEG = shutil.which("ffmpeg")


def tone(seconds: float, sr: int, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float, sr: int) -> np.ndarray:
    return np.zeros(int(round(seconds * sr)), np.float32)


def speechlike(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """A voiced-sounding signal: a 130-250 Hz harmonic tone with a syllable-rate envelope and a little noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f0 = 160 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.3 * x * env + 0.003 * rng.standard_normal(n)).astype(np.float32)


def write_wav(path: Path, x: np.ndarray, sr: int) -> Path:
    """16-bit PCM WAV (mono [T] or multichannel [T, C])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(str(path), sr, (np.clip(x, -1, 1) * 32767).astype(np.int16))
    return path


def write_float_wav(path: Path, x: np.ndarray, sr: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(str(path), sr, x.astype(np.float32))
    return path


def ffmpeg(*args: str) -> None:
    assert FFMPEG, "ffmpeg is installed by scripts/setup.sh --dev"
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def encode(src: Path, dst: Path, *codec_args: str) -> Path:
    """Re-encodes ``src`` to ``dst`` with the ffmpeg CLI (format from the extension)."""
    ffmpeg("-i", str(src), *codec_args, str(dst))
    return dst


def espeak(text: str, path: Path, voice: str = "en-us", pitch: int = 50) -> Path:
    """Speech from espeak-ng (22.05 kHz 16-bit WAV)."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is installed by scripts/setup.sh --dev"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", "160", "-w", str(path), text], check=True)
    return path


def tiny_model(path: Path) -> Path:
    """A small inference model (the reference's file layout) of a random, very thin 40k v2 generator."""
    import torch

    from rvc.core.config import load_model_config
    from rvc.models import checkpoint as C
    from rvc.models.synthesizer import Synthesizer, SynthesizerConfig
    from tests.conftest import TINY_MODEL

    hps = load_model_config("40k", "v2")
    hps["model"].update(TINY_MODEL)
    cfg = SynthesizerConfig.from_hparams(hps, "v2", True)
    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(C.small_model(Synthesizer(cfg).state_dict(), cfg, "40k", "tiny"), path)
    return path
