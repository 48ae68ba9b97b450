"""Long inputs part by part, in bounded memory: each part (cut at quiet points, as a whole conversion cuts) is
high-passed, pitched and converted with ``x_pad`` seconds of context on each side, given the input's loudness
envelope and resampled; the parts go to a raw float32 file beside the output, which is encoded with the final
peak limit once the peak is known. Memory stays that of a few parts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from rvc.audio.encode import encodable_rate, write_audio_stream
from rvc.inference.converter import HOP, SR16, Converter, cut_points, highpass, limit_peak, mix_rms

ENCODE_BLOCK_SECONDS = 10


def stream_parts(
    converter: Converter,
    x16: np.ndarray,
    out_rate: int,
    timings: dict[str, float],
    on_progress: Callable[[str], None] | None = None,
) -> Iterator[np.ndarray]:
    """The converted parts of ``x16`` at ``out_rate``, in order, before the final peak limit (the caller applies
    it over the whole); the seconds spent on pitch are added to ``timings["pitch"]``."""
    import soxr

    say = on_progress or (lambda _m: None)
    cfg, sr = converter.cfg, converter.sr
    t_pad, t_pad_tgt = int(SR16 * cfg.x_pad), int(sr * cfg.x_pad)
    bounds = [*cut_points(x16, cfg), len(x16)]
    resampler = soxr.ResampleStream(sr, out_rate, 1, dtype="float32", quality="HQ") if out_rate != sr else None
    start, done = 0, 0
    for i, end in enumerate(bounds):
        say(f"converting part {i + 1}/{len(bounds)}")
        seg = highpass(_context(x16, start - t_pad, end + t_pad + HOP))
        coarse = f0 = None
        if converter.f0:
            t = time.monotonic()
            coarse, f0 = converter.pitch(seg, len(seg) // HOP)
            timings["pitch"] = timings.get("pitch", 0.0) + time.monotonic() - t
        out = converter.chunk(seg, coarse, f0)
        out = out[t_pad_tgt : len(out) - t_pad_tgt]
        want = round(end * sr / SR16) - done  # the input's duration, to the sample, over all parts
        out = np.pad(out, (0, max(0, want - len(out))))[:want]
        done += len(out)
        if cfg.rms_mix_rate < 1:
            out = mix_rms(x16[start:end], SR16, out, sr, cfg.rms_mix_rate)
        if resampler is not None:
            out = resampler.resample_chunk(out.astype(np.float32), last=i == len(bounds) - 1)
        yield out.astype(np.float32)
        start = end
        _give_back_memory()  # parts differ in length: without this the allocator keeps every size it saw


def convert_long(
    converter: Converter, x: np.ndarray, output: Path, fmt: str, on_progress: Callable[[str], None] | None
) -> tuple[int, float, int, dict[str, float]]:
    """Converts ``x`` (16 kHz) part by part into ``output``; returns (rate, seconds, parts, timings)."""
    t0 = time.monotonic()
    cfg = converter.cfg
    sr = encodable_rate(cfg.resample_sr if cfg.resample_sr >= 16000 else converter.sr, fmt)
    x = limit_peak(x, 0.95)
    raw = output.with_name(f".{output.name}.parts.f32")  # scratch, not the output: removed whatever happens
    n, peak, parts, timings = 0, 0.0, 0, {"pitch": 0.0}
    try:
        with open(raw, "wb") as f:
            for piece in stream_parts(converter, x, sr, timings, on_progress):
                f.write(piece.tobytes())
                n += len(piece)
                parts += 1
                if len(piece):
                    peak = max(peak, float(np.abs(piece).max()))
        gain = 1.0 / (peak / 0.99) if peak / 0.99 > 1 else 1.0
        write_audio_stream(output, _blocks(raw, ENCODE_BLOCK_SECONDS * sr), sr, fmt, gain)
    finally:
        raw.unlink(missing_ok=True)
    total, pitch = time.monotonic() - t0, timings["pitch"]
    return sr, n / sr, parts, {"pitch": round(pitch, 3), "convert": round(total - pitch, 3), "total": round(total, 3)}


def _blocks(raw: Path, samples: int) -> Iterator[np.ndarray]:
    with open(raw, "rb") as f:
        while chunk := f.read(samples * 4):
            yield np.frombuffer(chunk, np.float32)


def _context(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``x[lo:hi]``, reflected where it runs past either end (as padding the whole input would give)."""
    n = len(x)
    left, right = max(0, -lo), max(0, hi - n)
    core = x[max(0, lo) : min(n, hi)]
    if left or right:
        mode: Literal["reflect", "constant"] = "reflect" if len(core) > max(left, right) else "constant"
        core = np.pad(core, (left, right), mode=mode)
    return core.astype(np.float32, copy=False)


def _give_back_memory() -> None:
    """Returns freed heap pages to the system (glibc's ``malloc_trim``; a no-op elsewhere)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
