"""Audio input and output: FFmpeg decoding through PyAV (its wheels bundle the FFmpeg libraries), soxr
resampling, and float32 WAV writing in the reference's format."""

from __future__ import annotations

import math
import struct
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
    path = Path(path)
    if path.stat().st_size == 0:
        raise AudioDecodeError("empty file (0 bytes)")
    plain = read_plain_wav(path)
    if plain is not None:
        x, source_rate, channels = plain
        seconds, warnings = x.size / source_rate, list[str]()
    else:
        x, source_rate, channels, seconds, warnings = _decode_ffmpeg(path)
    nonfinite, clipped = count_nonfinite(x), clipped_fraction(x)
    if nonfinite:
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)  # resampling would smear them over the signal
    if source_rate != sample_rate:
        x = resample(x, source_rate, sample_rate)
    return DecodedAudio(x, sample_rate, source_rate, channels, seconds, nonfinite, clipped, warnings)


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int, int, float, list[str]]:
    """FFmpeg's decoding of any file it reads: (mono float32 at the source rate, source rate, channels, seconds,
    warnings)."""
    import av  # PyAV: imported here so that importing this module stays cheap

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
    return x, source_rate, channels, seconds, warnings


def _declared_seconds(container: object, stream: object) -> float | None:
    duration = getattr(stream, "duration", None)
    time_base = getattr(stream, "time_base", None)
    if duration and time_base:
        return float(duration * time_base)
    c_duration = getattr(container, "duration", None)
    if c_duration:
        return c_duration / 1_000_000
    return None


@dataclass(frozen=True)
class _WavLayout:
    tag: int  # format tag (the subformat's for WAVE_FORMAT_EXTENSIBLE)
    channels: int
    rate: int
    byte_rate: int
    block_align: int
    bits: int
    data_offset: int
    data_size: int  # as declared: 0 or 0xFFFFFFFF mean unknown (streamed WAV)


def _wav_layout(path: Path) -> _WavLayout | None:
    """The ``fmt `` fields and where the ``data`` chunk starts, of a RIFF/WAVE file; None for any other file."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        fmt = b""
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"fmt ":
                fmt = f.read(size + (size & 1))
            elif chunk[:4] == b"data":
                if len(fmt) < 16:
                    return None
                tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", fmt[:16])
                if tag == 0xFFFE and len(fmt) >= 26:
                    tag = int.from_bytes(fmt[24:26], "little")
                return _WavLayout(tag, channels, rate, byte_rate, align, bits, f.tell(), size)
            else:
                f.seek(size + (size & 1), 1)


def _wav_declared_seconds(path: Path) -> float | None:
    """Duration a RIFF/WAVE header declares (FFmpeg trusts the file size instead, hiding truncation)."""
    w = _wav_layout(path)
    if w is None or not w.byte_rate or not 0 < w.data_size < 0xFFFFFFFF:
        return None
    return w.data_size / w.byte_rate


PLAIN_WAV = {(1, 16): "<i2", (3, 32): "<f4"}  # (format tag, bits): the sample type read without FFmpeg


def read_plain_wav(path: Path) -> tuple[np.ndarray, int, int] | None:
    """(mono float32, rate, channels) of a complete 16-bit PCM or 32-bit float WAV of one or two channels, read
    straight from the file; None for anything else, which FFmpeg decodes.

    The same samples as FFmpeg's decoding (the tests compare them): int16 / 32768, and stereo downmixed as
    libswresample does, (L + R) / sqrt(2). It skips FFmpeg's per-frame conversions, which cost as much as the rest
    of Step 2a for WAV files. A declared size that does not fit the file (truncated, streamed) goes to FFmpeg, which
    reports it.
    """
    w = _wav_layout(path)
    if w is None or (w.tag, w.bits) not in PLAIN_WAV or w.channels not in (1, 2) or w.rate <= 0:
        return None
    if w.block_align != w.channels * w.bits // 8 or not 0 < w.data_size < 0xFFFFFFFF:
        return None
    if w.data_size % w.block_align or w.data_offset + w.data_size > path.stat().st_size:
        return None
    raw = np.fromfile(path, dtype=PLAIN_WAV[(w.tag, w.bits)], count=w.data_size * 8 // w.bits, offset=w.data_offset)
    x = raw.astype(np.float32) * np.float32(1 / 32768) if raw.dtype.kind == "i" else raw.astype(np.float32)
    if w.channels == 2:
        x = (x[0::2] + x[1::2]) * np.float32(1 / math.sqrt(2))
    return x, w.rate, w.channels


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
    """Writes a mono IEEE-float32 WAV (format tag 3), the format of the reference's ``0_gt_wavs``/``1_16k_wavs``:
    byte for byte what ``scipy.io.wavfile.write`` writes (an 18-byte ``fmt `` chunk, a ``fact`` chunk), without
    importing scipy in every worker."""
    data = np.ascontiguousarray(x, dtype="<f4").reshape(-1)
    n = data.size
    fmt = struct.pack("<HHIIHHH", 3, 1, sample_rate, 4 * sample_rate, 4, 32, 0)
    head = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, n)
    head += b"data" + struct.pack("<I", 4 * n)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(head) + 4 * n) + head)
        f.write(data.tobytes())


def db(x: float) -> float:
    """Amplitude to dBFS (−inf for 0)."""
    return 20.0 * math.log10(x) if x > 0 else float("-inf")
