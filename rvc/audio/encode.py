"""Writing converted audio through FFmpeg (PyAV): one codec table and one rate rule for every output format."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rvc.audio.io import resample
from rvc.core.errors import RvcError
from rvc.core.files import write_with

FORMATS = ("wav", "flac", "mp3", "ogg")
MP3_RATES = (32000, 44100, 48000, 16000, 22050, 24000)
CODECS = {  # format -> (encoder, sample format)
    "wav": ("pcm_s16le", "s16"),
    "flac": ("flac", "s16"),
    "mp3": ("libmp3lame", "s16p"),
    "ogg": ("libopus", "flt"),
}


def check_format(fmt: str) -> None:
    """Raises:
    RvcError: ``fmt`` is not one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise RvcError(f"output format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def encodable_rate(sr: int, fmt: str) -> int:
    """The rate ``fmt`` is written at: MP3 has no 40 kHz and Opus runs at 48 kHz (those become 48 kHz)."""
    return 48000 if (fmt == "mp3" and sr not in MP3_RATES) or (fmt == "ogg" and sr != 48000) else sr


def write_audio(path: Path, audio: np.ndarray, sr: int, fmt: str) -> int:
    """Writes through FFmpeg (PyAV): wav (16-bit PCM, as the reference returns), flac, mp3, or ogg (Opus: the
    bundled FFmpeg has no libvorbis), resampled (soxr) where the format needs it. Returns the rate written."""
    check_format(fmt)
    rate = encodable_rate(sr, fmt)
    if rate != sr:
        audio = resample(audio.astype(np.float32), sr, rate)
    write_audio_stream(path, [audio], rate, fmt)
    return rate


def write_audio_stream(path: Path, blocks: Iterable[np.ndarray], sr: int, fmt: str, gain: float = 1.0) -> None:
    """Encodes blocks of mono float32 audio (already at a rate ``fmt`` accepts) one after another, times ``gain``,
    into ``path`` atomically (:func:`rvc.core.files.write_with`)."""
    import av

    codec, sample_fmt = CODECS[fmt]

    def encode(tmp: Path) -> None:
        with av.open(str(tmp), "w", format=fmt) as out:
            stream = out.add_stream(codec, rate=sr, layout="mono")
            assert isinstance(stream, av.AudioStream)
            for block in blocks:
                block = np.clip(block * gain, -1, 1)
                data = block.astype(np.float32) if sample_fmt == "flt" else (block * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(data[None], format=sample_fmt, layout="mono")
                frame.sample_rate = sr
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)

    write_with(path, encode)
