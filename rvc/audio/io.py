"""Audio input and output: FFmpeg decoding through PyAV (its wheels bundle the FFmpeg libraries), soxr
resampling, and float32 WAV writing in the reference's format."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rvc.core.errors import AudioDecodeError

CLIP_LEVEL = 0.999
CLIP_WARN_FRACTION = 0.001


@dataclass
class DecodedAudio:
    """Mono float32 samples at ``sample_rate`` and what was learned about the source while decoding."""

    samples: np.ndarray  # [T] float32
    sample_rate: int
    source_rate: int
    source_channels: int
    source_seconds: float
    nonfinite: int = 0  # NaN/Inf samples in the source (counted before resampling spreads them)
    clipped: float = 0.0  # fraction of source samples at full scale
    warnings: list[str] = field(default_factory=list)


def _ffmpeg_message(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split(":")[-1].strip() if text.startswith("[Errno") else text


def decode_audio(path: Path, sample_rate: int) -> DecodedAudio:
    """Decodes the first audio stream of any file FFmpeg reads to mono float32 at ``sample_rate``.

    FFmpeg (libswresample) converts the sample format and downmixes to mono, as the reference's ``ffmpeg -ac 1``
    does; soxr (high quality) converts the rate. Undecodable packets in the middle of a stream are skipped and
    counted, a stream that ends before its declared length is reported as truncated.

    Raises:
        AudioDecodeError: the file is empty, not audio, has no audio stream, or yields no samples.
    """
    import av  # PyAV: imported here so that importing this module stays cheap

    path = Path(path)
    if path.stat().st_size == 0:
        raise AudioDecodeError("empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise AudioDecodeError(f"not a readable audio or video file (FFmpeg: {_ffmpeg_message(e)})") from e
    warnings: list[str] = []
    with container:
        if not container.streams.audio:
            kinds = sorted({str(s.type) for s in container.streams}) or ["no streams"]
            raise AudioDecodeError(f"contains no audio stream (FFmpeg found: {', '.join(kinds)})")
        stream = container.streams.audio[0]
        source_rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        channels = int(stream.channels or 0)
        declared = _declared_seconds(container, stream)
        resampler = av.AudioResampler(format="flt", layout="mono")
        chunks: list[np.ndarray] = []
        bad_packets = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    bad_packets += 1
                    continue
                for frame in frames:
                    source_rate = frame.sample_rate or source_rate
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as e:
            if not chunks:
                raise AudioDecodeError(f"could not be decoded (FFmpeg: {_ffmpeg_message(e)})") from e
            warnings.append(f"decoding stopped early (FFmpeg: {_ffmpeg_message(e)}); the readable part was used")
    if not chunks or source_rate <= 0:
        raise AudioDecodeError("contains no decodable audio (corrupt or truncated file)")
    x = np.concatenate(chunks).astype(np.float32, copy=False)
    if x.size == 0:
        raise AudioDecodeError("contains no decodable audio (corrupt or truncated file)")
    seconds = x.size / source_rate
    if bad_packets:
        warnings.append(f"{bad_packets} corrupt packet(s) skipped while decoding")
    declared = _wav_declared_seconds(path) or declared
    if declared and seconds < 0.9 * declared - 0.1:
        warnings.append(f"truncated: decoded {seconds:.1f} s of the {declared:.1f} s the file declares")
    nonfinite, clipped = count_nonfinite(x), clipped_fraction(x)
    if nonfinite:
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)  # resampling would smear them over the signal
    if source_rate != sample_rate:
        x = resample(x, source_rate, sample_rate)
    return DecodedAudio(x, sample_rate, source_rate, channels, seconds, nonfinite, clipped, warnings)


def _declared_seconds(container: object, stream: object) -> float | None:
    duration = getattr(stream, "duration", None)
    time_base = getattr(stream, "time_base", None)
    if duration and time_base:
        return float(duration * time_base)
    c_duration = getattr(container, "duration", None)
    if c_duration:
        return c_duration / 1_000_000
    return None


def _wav_declared_seconds(path: Path) -> float | None:
    """Duration a RIFF/WAVE header declares (FFmpeg trusts the file size instead, hiding truncation)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        byte_rate = 0
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"fmt ":
                fmt = f.read(size + (size & 1))
                byte_rate = int.from_bytes(fmt[8:12], "little") if len(fmt) >= 12 else 0
            elif chunk[:4] == b"data":
                # 0 and 0xFFFFFFFF mean "unknown" (streamed WAV): nothing declared
                return size / byte_rate if byte_rate and 0 < size < 0xFFFFFFFF else None
            else:
                f.seek(size + (size & 1), 1)


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality (soxr HQ) resampling of a mono float32 signal."""
    if from_rate == to_rate:
        return x
    import soxr  # here, not at the top: reading experiments (training, exporting) needs no resampler

    return soxr.resample(x, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def count_nonfinite(x: np.ndarray) -> int:
    """Number of NaN or infinite samples."""
    return int(x.size - np.count_nonzero(np.isfinite(x)))


def clipped_fraction(x: np.ndarray) -> float:
    """Fraction of samples at or above full scale (|x| >= 0.999)."""
    return float(np.count_nonzero(np.abs(x) >= CLIP_LEVEL)) / max(1, x.size)


def write_wav_float32(path: Path, x: np.ndarray, sample_rate: int) -> None:
    """Writes a mono IEEE-float32 WAV (format tag 3), the format of the reference's ``0_gt_wavs``/``1_16k_wavs``."""
    from scipy.io import wavfile  # here: the app imports this module, and starts without scipy

    wavfile.write(str(path), sample_rate, np.ascontiguousarray(x, dtype=np.float32))


def db(x: float) -> float:
    """Amplitude to dBFS (−inf for 0)."""
    return 20.0 * math.log10(x) if x > 0 else float("-inf")
