"""One input file of Step 2a, in a worker process: FFmpeg decode to mono float32 at the model rate, 48 Hz
high-pass, silence slicing, ~3.7 s pieces with 0.3 s overlap, volume normalisation, then the pieces as
``0_gt_wavs/<i>_<j>.wav`` (model rate) and ``1_16k_wavs/<i>_<j>.wav`` (16 kHz), float32 WAV, into the run's
staging folders."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rvc.audio.highpass import highpass as causal_highpass
from rvc.audio.io import db, decode_audio, resample, write_wav_float32
from rvc.audio.slicer import slice_regions
from rvc.core.errors import AudioDecodeError
from rvc.steps.preprocess.config import PreprocessConfig
from rvc.steps.preprocess.report import FileResult

logger = logging.getLogger(__name__)

HPF_CUTOFF_HZ = 48.0
HPF_ORDER = 5
NORM_MAX = 0.9
NORM_ALPHA = 0.75


@dataclass(frozen=True)
class FileTask:
    """One file for a worker: where to read it, at which rate to cut it, where its pieces go."""

    index: int
    name: str
    path: str
    sample_rate: int
    gt_dir: str
    wav16_dir: str
    config: PreprocessConfig


def highpass(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """5th-order 48 Hz Butterworth high-pass, causal.

    Causal (``lfilter``-style), as the reference trains, not the zero-phase ``filtfilt`` the product doc names:
    every published RVC model and pretrained G/D was trained on causally filtered audio, and a zero-phase
    filter rings *before* each transient (the reason the reference reverted it); it also costs two passes.
    The same filter as the reference's ``signal.butter(5, 48, btype="high")`` + ``lfilter``, computed without
    scipy.signal (:mod:`rvc.audio.highpass`).
    """
    return causal_highpass(x, sample_rate, HPF_CUTOFF_HZ, HPF_ORDER)


def segment_bounds(length: int, sample_rate: int, segment: float = 3.7, overlap: float = 0.3) -> list[tuple[int, int]]:
    """Pieces of a slice of ``length`` samples: ``segment`` s long, each starting ``segment - overlap`` s after
    the previous one; once at most ``segment + overlap`` s remain, that remainder is the last piece (the tail),
    so tails are (2·overlap, segment + overlap] s long and every sample is in some piece."""
    tail = segment + overlap
    piece = int(sample_rate * segment)
    bounds = []
    i = 0
    while True:
        start = int(sample_rate * (segment - overlap) * i)
        if length - start > tail * sample_rate:
            bounds.append((start, start + piece))
            i += 1
        else:
            bounds.append((start, length))
            return bounds


def normalize(x: np.ndarray, max_peak: float = 2.5) -> np.ndarray | None:
    """``0.675·x/max|x| + 0.25·x`` (the reference's max 0.9, alpha 0.75), or None for a piece to drop: peak
    above ``max_peak``, zero, or not finite."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if not np.isfinite(peak) or peak <= 0.0 or peak > max_peak:
        return None
    return (x * np.float32(NORM_MAX * NORM_ALPHA / peak) + np.float32(1 - NORM_ALPHA) * x).astype(np.float32)


def process_file(task: FileTask) -> FileResult:
    """Decodes, filters, slices, cuts and writes one input file. Never raises for bad input: the reason ends up
    in the returned result."""
    result = FileResult(index=task.index, name=task.name, status="skipped")
    try:
        _process(task, result)
    except AudioDecodeError as e:
        result.reason = str(e)
    except PermissionError:
        result.reason = "no permission to read the file"
    except MemoryError:
        result.reason = "too large to fit in memory"
    except Exception as e:  # a bug must not lose the other files' work: report it and go on
        logger.exception("unexpected error on %s", task.name)
        result.reason = f"unexpected error: {type(e).__name__}: {e}"
    if result.status != "ok":
        result.pieces, result.stems, result.piece_seconds = 0, [], 0.0
    return result


def _process(task: FileTask, result: FileResult) -> None:
    cfg, sr = task.config, task.sample_rate
    audio = decode_audio(Path(task.path), sr)
    result.seconds = round(audio.source_seconds, 3)
    result.warnings.extend(audio.warnings)
    if audio.nonfinite:
        result.reason = f"contains {audio.nonfinite} NaN/Inf sample(s): the file is damaged"
        return
    if audio.source_seconds < cfg.min_file_seconds:
        result.reason = f"too short ({audio.source_seconds:.2f} s; the minimum is {cfg.min_file_seconds} s)"
        return
    if audio.clipped >= 0.001:
        result.warnings.append(f"clipped: {audio.clipped:.1%} of samples at full scale (distortion will be learned)")
    x = highpass(audio.samples, sr)
    regions = slice_regions(x, sr, cfg.slicer)
    if not regions:
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        result.reason = (
            f"silence only (peak {db(peak):.0f} dBFS, nothing above the {cfg.slicer.threshold_db:.0f} dB threshold)"
        )
        return
    covered = sum(_write_pieces(task, result, x[lo:hi]) for lo, hi in regions)  # samples in a written piece
    result.pieces = len(result.stems)
    result.piece_seconds = round(covered / sr, 3)
    if not result.stems:
        result.reason = f"every piece was dropped: peak above {cfg.max_peak} (extreme level or damaged audio)"
        return
    result.status = "ok"


def _write_pieces(task: FileTask, result: FileResult, chunk: np.ndarray) -> int:
    """Cuts one sounding region into pieces and writes them; returns how many of its samples they cover."""
    cfg, sr = task.config, task.sample_rate
    covered, end = 0, 0
    for a, b in segment_bounds(len(chunk), sr, cfg.segment_seconds, cfg.overlap_seconds):
        piece = normalize(chunk[a:b], cfg.max_peak)
        if piece is None:
            result.filtered_pieces += 1
            continue
        stem = f"{task.index}_{len(result.stems)}"  # numbered after each write: no piece overwrites another
        write_wav_float32(Path(task.gt_dir) / f"{stem}.wav", piece, sr)
        write_wav_float32(Path(task.wav16_dir) / f"{stem}.wav", resample(piece, sr, 16000), 16000)
        result.stems.append(stem)
        covered += b - max(a, end)
        end = b
    return covered
