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


# --- WAV read straight from the file, and written without scipy ----------------------------------------------


def _plain_and_ffmpeg(path):
    from rvc.audio.io import _decode_ffmpeg, read_plain_wav

    return read_plain_wav(path), _decode_ffmpeg(path)


@pytest.mark.parametrize("kind", ["int16 mono", "int16 stereo", "float32 mono", "float32 stereo"])
def test_plain_wav_reads_the_samples_ffmpeg_decodes(tmp_path, kind):
    from scipy.io import wavfile

    rng = np.random.default_rng(0)
    x = np.clip(rng.normal(0, 0.3, (16000, 2)), -1, 1).astype(np.float32)
    x = x if "stereo" in kind else x[:, 0]
    data = (x * 32767).astype(np.int16) if "int16" in kind else x
    wavfile.write(tmp_path / "a.wav", 22050, data)
    plain, (y, rate, channels, _, warnings) = _plain_and_ffmpeg(tmp_path / "a.wav")
    assert plain is not None and (plain[1], plain[2]) == (rate, channels) == (22050, 2 if "stereo" in kind else 1)
    assert plain[0].dtype == np.float32 and len(plain[0]) == len(y) and not warnings
    np.testing.assert_allclose(plain[0], y, atol=1.2e-7, rtol=0)  # FFmpeg's own rounding of (L + R) / sqrt(2)


@pytest.mark.parametrize("args", [["-c:a", "pcm_s24le"], ["-c:a", "pcm_u8"], ["-ac", "6", "-c:a", "pcm_s16le"]])
def test_other_wavs_go_to_ffmpeg(source, tmp_path, args):
    from rvc.audio.io import read_plain_wav

    path = tmp_path / "o.wav"
    ffmpeg("-i", str(source), *args, str(path))
    assert read_plain_wav(path) is None
    assert abs(len(decode_audio(path, 16000).samples) / 16000 - SECONDS) < 0.01


def test_truncated_or_streamed_wav_goes_to_ffmpeg(tmp_path):
    from rvc.audio.io import read_plain_wav

    path = write_wav(tmp_path / "t.wav", tone(1.0, 16000), 16000)
    data = bytearray(path.read_bytes())
    path.write_bytes(data[:-100])
    assert read_plain_wav(path) is None
    data[40:44] = (0xFFFFFFFF).to_bytes(4, "little")  # the data size a streamed WAV leaves unknown
    path.write_bytes(data)
    assert read_plain_wav(path) is None
    assert abs(len(decode_audio(path, 16000).samples) - 16000) < 10


@pytest.mark.parametrize("n", [0, 1, 1001])
def test_float_wav_written_byte_for_byte_as_scipy_writes(tmp_path, n):
    from scipy.io import wavfile

    from rvc.audio.io import write_wav_float32

    x = np.random.default_rng(n).normal(0, 0.3, n).astype(np.float32)
    wavfile.write(tmp_path / "scipy.wav", 40000, x)
    write_wav_float32(tmp_path / "ours.wav", x, 40000)
    assert (tmp_path / "ours.wav").read_bytes() == (tmp_path / "scipy.wav").read_bytes()


# --- the causal high-pass of Step 2a ----------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [32000, 40000, 48000])
def test_highpass_is_scipys_butterworth(sr):
    from scipy import signal

    from rvc.audio.highpass import FFT_SIZE, butter_highpass_zpk, highpass

    zeros, poles, gain = butter_highpass_zpk(5, 48.0, sr)
    z2, p2, k2 = signal.butter(5, 48.0, btype="high", fs=sr, output="zpk")
    np.testing.assert_allclose(np.sort_complex(poles), np.sort_complex(p2), atol=1e-12)
    np.testing.assert_allclose(zeros, z2, atol=1e-12)
    assert gain == pytest.approx(k2, rel=1e-12)
    sos = signal.butter(5, 48.0, btype="high", fs=sr, output="sos")  # the reference's filter, stable form
    rng = np.random.default_rng(sr)
    for n in (1, 777, FFT_SIZE, 3 * FFT_SIZE + 17, 20 * sr):
        x = rng.normal(0, 0.4, n).astype(np.float32)
        x[n // 3 : n // 2] = 0.0  # silence: the filter's ringing into it
        y = highpass(x, sr, 48.0, 5)
        assert y.dtype == np.float32 and len(y) == n
        # float32 FFTs: within 5e-7 (-126 dB, 1/60 of a 16-bit step); the reference's own lfilter on the transfer
        # function is 3e-6 away from these second-order sections
        np.testing.assert_allclose(y, signal.sosfilt(sos, x), atol=5e-7, rtol=0)
    assert len(highpass(np.zeros(0, np.float32), sr, 48.0, 5)) == 0
