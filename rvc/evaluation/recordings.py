"""Recordings given by the user for judging (``rvc score``'s two files, probes, a ``--data`` folder): decoded at
16 kHz and refused with the file's name when they cannot be judged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rvc.core.errors import AudioDecodeError, EvaluationError
from rvc.evaluation.metrics import SAMPLE_RATE

MIN_SECONDS = 1.0
SILENT_DBFS = -60.0


def load_recording(path: Path, what: str = "recording") -> np.ndarray:
    """``path`` decoded to mono float32 at 16 kHz.

    Raises:
        EvaluationError: (naming ``what`` and the file) missing, not audio, silent (peak below −60 dBFS) or
            shorter than 1 s.
    """
    from rvc.audio.io import db, decode_audio

    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{what} {path} does not exist")
    try:
        x = decode_audio(path, SAMPLE_RATE).samples
    except AudioDecodeError as e:
        raise EvaluationError(f"{what} {path.name} is not audio: {e}") from e
    seconds = len(x) / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise EvaluationError(f"{what} {path.name} is {seconds:.2f} s long; at least {MIN_SECONDS:.0f} s is needed")
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if db(peak) < SILENT_DBFS:
        raise EvaluationError(f"{what} {path.name} is silent (peak {db(peak):.0f} dBFS)")
    return x
