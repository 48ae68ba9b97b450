"""Pitch (F0) estimation at 100 frames/s on 16 kHz audio, the coarse pitch code, and which methods can run here.

Frame counts follow the reference: ``pm`` gives ``len // 160`` frames (zero-padded around Praat's track),
every other method ``len // 160 + 1``. F0 is in Hz, 0 where unvoiced.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rvc.core.errors import PitchError, WeightsError
from rvc.pitch.catalog import METHOD_WEIGHTS

SAMPLE_RATE = 16000
HOP = 160
F0_MIN = 50.0
F0_MAX = 1100.0
MEL_MIN = 1127.0 * np.log(1.0 + F0_MIN / 700.0)
MEL_MAX = 1127.0 * np.log(1.0 + F0_MAX / 700.0)

F0Method = Literal["rmvpe", "pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe"]
F0_METHODS: tuple[str, ...] = ("rmvpe", "pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe")
# Shortest input each method handles (Praat needs three periods of the pitch floor; WORLD a few frames).
MIN_SAMPLES = {"pm": int(3 / F0_MIN * SAMPLE_RATE) + 1, "harvest": 1600, "dio": 1600}
DEFAULT_MIN_SAMPLES = 1024


def coarse_f0(f0: np.ndarray) -> np.ndarray:
    """F0 in Hz -> the coarse pitch code 1..255 (int64) of RVC's pitch embedding.

    ``mel = 1127·ln(1 + f0/700)``, mapped linearly so that 50 Hz -> 1 and 1100 Hz -> 255, then clipped and rounded;
    1 means unvoiced (or at most 50 Hz).
    """
    mel = 1127.0 * np.log(1.0 + np.asarray(f0, dtype=np.float64) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - MEL_MIN) * 254.0 / (MEL_MAX - MEL_MIN) + 1.0
    mel[mel <= 1] = 1
    mel[mel > 255] = 255
    return np.rint(mel).astype(np.int64)


def frame_count(n_samples: int, method: str) -> int:
    return n_samples // HOP if method == "pm" else n_samples // HOP + 1


def _fit(f0: np.ndarray, n: int) -> np.ndarray:
    """Centre ``f0`` in ``n`` frames (zero padding split as the reference splits it), or cut it to ``n``."""
    if len(f0) >= n:
        return f0[:n]
    left = (n - len(f0) + 1) // 2
    return np.pad(f0, (left, n - len(f0) - left))


def f0_pm(x: np.ndarray) -> np.ndarray:
    """Praat's autocorrelation pitch (parselmouth), the reference's parameters."""
    import parselmouth

    sound = parselmouth.Sound(x.astype(np.float64), SAMPLE_RATE)
    pitch = sound.to_pitch_ac(
        time_step=HOP / SAMPLE_RATE, voicing_threshold=0.6, pitch_floor=F0_MIN, pitch_ceiling=F0_MAX
    )
    return _fit(np.asarray(pitch.selected_array["frequency"], dtype=np.float64), frame_count(len(x), "pm"))


def _world(x: np.ndarray, estimator: str) -> np.ndarray:
    import pyworld

    xd = np.ascontiguousarray(x, dtype=np.float64)
    fn = pyworld.harvest if estimator == "harvest" else pyworld.dio
    f0, t = fn(xd, SAMPLE_RATE, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=1000.0 * HOP / SAMPLE_RATE)
    return _fit(pyworld.stonemask(xd, f0, t, SAMPLE_RATE), frame_count(len(x), estimator))


def f0_harvest(x: np.ndarray) -> np.ndarray:
    """WORLD Harvest with StoneMask refinement (pyworld)."""
    return _world(x, "harvest")


def f0_dio(x: np.ndarray) -> np.ndarray:
    """WORLD DIO with StoneMask refinement (pyworld)."""
    return _world(x, "dio")


@dataclass(frozen=True)
class MethodStatus:
    method: str
    available: bool
    reason: str = ""  # why not, for the UI and CLI


def method_status(method: str, weights_dir: Path | None = None) -> MethodStatus:
    """Whether ``method`` can run on this installation (packages importable; weights are checked on use)."""
    if method not in F0_METHODS:
        return MethodStatus(method, False, f"unknown method {method!r}; choose one of {', '.join(F0_METHODS)}")
    needs = {"pm": "parselmouth", "harvest": "pyworld", "dio": "pyworld", "rmvpe": "torch"}
    if method in needs and importlib.util.find_spec(needs[method]) is None:
        return MethodStatus(method, False, f"the Python package {needs[method]} is not installed")
    if method in METHOD_WEIGHTS:
        from rvc.hub import weights  # no torch import: this runs while the app starts

        name = METHOD_WEIGHTS[method]
        if not weights.status(weights_dir).get(name) and weights.offline():
            where = weights.registry()[name][1][0].url
            return MethodStatus(
                method,
                False,
                f"its weights are not in {weights_dir or weights.pretrained_dir()} and downloads are off ({where})",
            )
    return MethodStatus(method, True)


def make_estimator(
    method: str, rmvpe_path: Path | None = None, device: str = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``x [T] float32 at 16 kHz -> f0 [frames] float64 Hz`` for ``method``.

    Model-based methods load their model once here. Raises :class:`PitchError` from the returned function for a
    piece too short for the method.
    """
    status = method_status(method)
    if not status.available and method not in METHOD_WEIGHTS:  # weights: given here, or ensure() explains
        raise PitchError(f"pitch method {method} is unavailable: {status.reason}")
    if method == "rmvpe":
        from rvc.pitch.rmvpe import RMVPE

        if rmvpe_path is None:
            raise WeightsError("rmvpe needs its weights file (rmvpe.pt)")
        model = RMVPE(rmvpe_path, device=device, half=device != "cpu")
        fn: Callable[[np.ndarray], np.ndarray] = model.f0
    elif method in ("crepe", "crepe-tiny", "fcpe"):
        from rvc.pitch import neural as neural_pitch

        fn = neural_pitch.make(method, device)
    else:
        fn = {"pm": f0_pm, "harvest": f0_harvest, "dio": f0_dio}[method]
    min_samples = MIN_SAMPLES.get(method, DEFAULT_MIN_SAMPLES)

    def estimate(x: np.ndarray) -> np.ndarray:
        if len(x) < min_samples:
            raise PitchError(
                f"too short for {method} ({len(x) / SAMPLE_RATE:.3f} s; it needs at least {min_samples / SAMPLE_RATE:.3f} s)"
            )
        f0 = np.asarray(fn(x), dtype=np.float64)
        f0[~np.isfinite(f0) | (f0 < 0)] = 0.0
        return f0

    return estimate
