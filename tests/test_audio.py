"""Decoding of every format the issue names, each file made with the ffmpeg CLI inside the test."""

import numpy as np
import pytest

from rvc.audio.io import decode_audio
from rvc.core.errors import AudioDecodeError
from tests.helpers import encode, ffmpeg, tone, write_wav

SECONDS = 2.0


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    stereo = np.stack([tone(SECONDS, 44100, 440), tone(SECONDS, 44100, 440, 0.3)], axis=1)
    return write_wav(d / "src.wav", stereo, 44100)


@pytest.mark.parametrize(
    "name, args",
    [
        ("pcm16.wav", ["-c:a", "pcm_s16le"]),
        ("pcm24_48k.wav", ["-c:a", "pcm_s24le", "-ar", "48000"]),
        ("float_22k.wav", ["-c:a", "pcm_f32le", "-ar", "22050"]),
        ("u8_8k_mono.wav", ["-c:a", "pcm_u8", "-ar", "8000", "-ac", "1"]),
        ("a.mp3", ["-c:a", "libmp3lame", "-b:a", "128k"]),
        ("a.flac", ["-c:a", "flac"]),
        ("a.ogg", ["-c:a", "libvorbis"]),
        ("a.opus", ["-c:a", "libopus", "-b:a", "64k"]),
        ("a.m4a", ["-c:a", "aac", "-b:a", "128k"]),
        ("a.webm", ["-c:a", "libopus"]),
        ("six.wav", ["-af", "pan=5.1|FL=c0|FR=c1|FC=c0|LFE=c1|BL=c0|BR=c1", "-c:a", "pcm_s16le"]),
    ],
)
def test_decodes_audio_formats(source, tmp_path, name, args):
    path = encode(source, tmp_path / name, *args)
    out = decode_audio(path, 40000)
    assert out.samples.dtype == np.float32 and out.samples.ndim == 1
    assert out.sample_rate == 40000
    assert abs(len(out.samples) / 40000 - SECONDS) < 0.1  # codec priming/padding only
    assert abs(out.source_seconds - SECONDS) < 0.1
    assert abs(dominant_hz(out.samples, 40000) - 440) < 2
    # FFmpeg's downmix sums 5.1 channels without rescaling (as `ffmpeg -ac 1` does); pieces are normalised later
    assert 0.1 < np.abs(out.samples).max() < (1.6 if name == "six.wav" else 1.0)
    assert out.warnings == []


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_decodes_the_audio_of_video_containers(tmp_path, container):
    path = tmp_path / f"clip.{container}"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=2",
        "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    out = decode_audio(path, 16000)
    assert abs(len(out.samples) / 16000 - 2.0) < 0.15
    assert abs(dominant_hz(out.samples, 16000) - 330) < 2


def test_stereo_is_downmixed(tmp_path):
    left = tone(1.0, 32000, 200, 0.8)
    x = np.stack([left, -left], axis=1)  # opposite phase: the mono mix cancels
    out = decode_audio(write_wav(tmp_path / "s.wav", x, 32000), 32000)
    assert np.abs(out.samples).max() < 1e-3
    assert out.source_channels == 2


def test_video_without_audio(tmp_path):
    path = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=1", "-c:v", "mpeg4", str(path))
    with pytest.raises(AudioDecodeError, match="no audio stream .*video"):
        decode_audio(path, 16000)


def test_not_audio_and_empty(tmp_path):
    (tmp_path / "notes.wav").write_text("these are my lyrics, not audio\n" * 20)
    with pytest.raises(AudioDecodeError, match="not a readable audio or video file"):
        decode_audio(tmp_path / "notes.wav", 16000)
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty file"):
        decode_audio(tmp_path / "empty.mp3", 16000)


def test_truncated_wav_is_used_with_a_warning(tmp_path):
    path = write_wav(tmp_path / "t.wav", tone(4.0, 16000), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    out = decode_audio(path, 16000)
    assert abs(len(out.samples) / 16000 - 2.0) < 0.05
    assert any("truncated" in w for w in out.warnings)
