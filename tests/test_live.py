"""Live conversion: the block-by-block engine against the whole-file conversion, the seams, the silence gate, a
model without pitch, the block-size advice, audio devices at other rates (a stand-in PortAudio), and no device."""

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rvc.audio.io import decode_audio
from rvc.core.errors import RvcError
from rvc.core.options import SettingError
from rvc.inference.convert import ConvertConfig
from rvc.inference.converter import Converter
from rvc.live import devices as D
from rvc.live.config import LiveConfig
from rvc.live.engine import LiveEngine, block_that_keeps_up, convert_stream
from tests.helpers import espeak

ROOT = Path(__file__).resolve().parent.parent


def small_model(path: Path, f0: bool = True, full: bool = False) -> Path:
    """A random-weight v2-40k small model: the reference's sizes (``full``) or narrow layers (fast)."""
    from rvc.core.config import load_model_config
    from rvc.models import checkpoint as C
    from rvc.models.synthesizer import Synthesizer, SynthesizerConfig

    torch.manual_seed(0)
    cfg = SynthesizerConfig.from_hparams(load_model_config("40k", "v2"), "v2", f0)
    if not full:
        narrow = dict(
            inter_channels=16, hidden_channels=32, filter_channels=64, n_layers=2, upsample_initial_channel=64
        )
        cfg = dataclasses.replace(cfg, **narrow)
    torch.save(C.small_model(Synthesizer(cfg).state_dict(), cfg, "40k", "test"), path)
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    d = tmp_path_factory.mktemp("live")
    path = espeak("The quick brown fox jumps over the lazy dog, then runs away.", d / "say.wav")
    return path, decode_audio(path, 16000).samples


def converter(model: Path, embedder_dir: Path, **kw) -> Converter:
    cfg = dict(f0_method="pm", embedder=embedder_dir, device="cpu", precision="fp32", rms_mix_rate=1.0, protect=0.5)
    return Converter(model, ConvertConfig(**{**cfg, **kw}))


def test_stream_is_the_offline_conversion_delayed_by_its_latency(tmp_path, embedder_dir, speech, monkeypatch):
    """Noise draws zeroed and the same model: the stream equals the whole-file conversion shifted by crossfade +
    search (correlation >= 0.9, MCD <= 2.5 dB; they differ by the pitch and HuBERT of a window instead of the whole
    file and the causal high-pass), its seams jump no more than the offline output does, and its length is the
    input's."""
    from scipy.signal import resample_poly

    from rvc.evaluation.metrics import mcd_db

    monkeypatch.setattr(torch, "randn_like", lambda t, *a, **k: torch.zeros_like(t))
    conv = converter(small_model(tmp_path / "full.pth", full=True), embedder_dir)
    _, x = speech
    offline, sr, _ = conv.convert(x)
    engine = LiveEngine(conv, LiveConfig(block=0.2, crossfade=0.05, context=1.0, silence_db=-100))
    assert engine.latency_ms == 260.0
    stream = convert_stream(engine, x)
    assert len(stream) == round(len(x) * sr / 16000)
    lag = (engine.nc + engine.ns) * engine.upp  # crossfade + search, at the model's rate
    n = min(len(offline), len(stream))
    a, b = offline[: n - lag], stream[lag:n]
    corr = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert corr >= 0.9, corr
    mcd = mcd_db(*(resample_poly(v, 2, 5).astype(np.float32) for v in (a, b)))
    assert mcd <= 2.5, mcd
    seams = np.arange(1, len(stream) // engine.out_block) * engine.out_block
    jumps = np.abs(stream[seams] - stream[seams - 1])
    assert jumps.max() <= np.abs(np.diff(offline)).max(), (jumps.max(), np.abs(np.diff(offline)).max())


def test_silence_gate_and_a_model_without_pitch(tmp_path, embedder_dir, speech):
    conv = converter(small_model(tmp_path / "nof0.pth", f0=False), embedder_dir)
    engine = LiveEngine(conv, LiveConfig(block=0.1, crossfade=0.02, context=0.4, silence_db=-50))
    silent = convert_stream(engine, np.zeros(16000, np.float32))
    assert len(silent) == 40000 and not silent.any() and engine.stats.silent == 10 and not engine.stats.compute_ms
    _, x = speech
    y = convert_stream(engine, x)
    assert len(y) == round(len(x) * 2.5) and np.isfinite(y).all() and np.abs(y).max() > 0
    assert engine.stats.compute_ms  # speech was converted, not gated


def test_settings_are_checked():
    with pytest.raises(SettingError, match="multiple of 0.01"):
        LiveConfig(block=0.255)
    with pytest.raises(SettingError, match="crossfade"):
        LiveConfig(block=0.1, crossfade=0.2)
    assert LiveConfig().block == 0.25 and LiveConfig(block=0.03, crossfade=0.02).block == 0.03


def test_block_advice():
    cfg = LiveConfig(block=0.1, crossfade=0.05, context=1.0)
    assert block_that_keeps_up(50, cfg) == 0.1  # already keeps up
    advice = block_that_keeps_up(300, cfg)  # 300 ms for a 100 ms block
    assert advice is not None and advice > 0.1 and round(advice / 0.01, 6).is_integer()
    k = cfg.context + cfg.crossfade + cfg.search
    assert 0.3 * (k + advice) / (k + cfg.block) < advice  # the bound the estimate is built on holds
    assert block_that_keeps_up(5000, cfg) is None  # no block is fast enough at this context


def test_cli_file_mode_json(tmp_path, embedder_dir, speech):
    model = small_model(tmp_path / "m.pth")
    src, x = speech
    cmd = [sys.executable, "-m", "rvc", "live", str(model), "--input", str(src), "--output", str(tmp_path / "o.wav")]
    cmd += ["--block", "0.1", "--crossfade", "0.02", "--context", "0.5", "--f0-method", "pm", "--json"]
    cmd += ["--embedder", str(embedder_dir), "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["block_ms"] == 100 and out["algorithmic_latency_ms"] == 130 and out["blocks"] > 10
    assert out["compute_ms_median"] > 0 and out["compute_ms_p99"] >= out["compute_ms_median"]
    assert out["keeps_up"] == (out["compute_ms_p99"] < 100)
    if not out["keeps_up"]:
        assert "block_that_keeps_up_s" in out and "do not keep up" in r.stderr
    y = decode_audio(tmp_path / "o.wav", 40000).samples
    assert abs(len(y) - len(x) * 2.5) <= 1


def test_cli_without_audio_devices_says_so(monkeypatch, capsys):
    from rvc import cli

    class NoDevices:
        @staticmethod
        def query_hostapis():
            return []

        @staticmethod
        def query_devices():
            return []

    monkeypatch.setattr(D, "_sounddevice", lambda: NoDevices)
    assert cli.main(["live", "--list-devices"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no audio devices") and "Traceback" not in err[0]
    assert cli.main(["live", "m.pth", "--input-device", "mic", "--output-device", "speaker"]) == 1
    assert capsys.readouterr().err.startswith("error: no audio devices")
    assert cli.main(["live", "m.pth"]) == 1
    assert "either --input FILE --output FILE" in capsys.readouterr().err


def test_missing_portaudio_is_one_clear_line(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_portaudio(name, *a, **k):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    with pytest.raises(D.AudioDeviceError, match="install libportaudio2"):
        D.list_devices()


class FakePortAudio:
    """PortAudio's part that run_devices uses: one 44.1 kHz microphone playing ``source`` and one 48 kHz speaker
    recording what it is given, each driven by its own thread in 10 ms callbacks, in real time."""

    def __init__(self, source: np.ndarray) -> None:
        self.source, self.played = source, []

    def query_hostapis(self):
        return [{"name": "fake"}]

    def query_devices(self):
        return [
            {"name": "Fake Mic", "max_input_channels": 1, "max_output_channels": 0, "default_samplerate": 44100,
             "hostapi": 0},
            {"name": "Fake Speaker", "max_input_channels": 0, "max_output_channels": 2, "default_samplerate": 48000,
             "hostapi": 0},
        ]  # fmt: skip

    def _stream(self, fake, samplerate, callback, kind):
        class Stream:
            def __enter__(s):
                s.run = True
                s.t = threading.Thread(target=s.loop, daemon=True)
                s.t.start()
                return s

            def __exit__(s, *exc):
                s.run = False
                s.t.join()

            def loop(s):
                n, i = samplerate // 100, 0
                while s.run:
                    if kind == "in":
                        chunk = fake.source[i : i + n]
                        chunk = np.pad(chunk, (0, n - len(chunk)))[:, None]
                        callback(chunk.astype(np.float32), n, None, None)
                        i += n
                    else:
                        out = np.zeros((n, 1), np.float32)
                        callback(out, n, None, None)
                        fake.played.append(out[:, 0].copy())
                    time.sleep(0.01)

        return Stream()

    def InputStream(self, device, channels, samplerate, callback):  # noqa: N802 (sounddevice's name)
        return self._stream(self, samplerate, callback, "in")

    def OutputStream(self, device, channels, samplerate, callback):  # noqa: N802
        return self._stream(self, samplerate, callback, "out")


def test_devices_at_other_rates_are_resampled(tmp_path, embedder_dir, monkeypatch):
    t = np.arange(44100 * 3) / 44100
    fake = FakePortAudio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    monkeypatch.setattr(D, "_sounddevice", lambda: fake)
    mic, speaker = D.find_device("mic", "input"), D.find_device("1", "output")
    assert (mic.rate, speaker.rate) == (44100, 48000)
    with pytest.raises(D.AudioDeviceError, match="no input device 'usb'.*0: Fake Mic"):
        D.find_device("usb", "input")
    engine = LiveEngine(converter(small_model(tmp_path / "m.pth"), embedder_dir), LiveConfig(block=0.2, context=0.4))
    stop = threading.Event()
    timer = threading.Timer(2.5, stop.set)
    timer.start()
    stats = D.run_devices(engine, mic, speaker, stop=stop)
    played = np.concatenate(fake.played)
    assert len(stats.compute_ms) + stats.dropped >= 3  # blocks of 16 kHz audio reached the engine
    assert np.abs(played).max() > 0 and np.isfinite(played).all()  # 48 kHz audio reached the speaker


def test_falling_behind_drops_blocks_and_keeps_the_delay_bounded():
    buffer = D._OutputBuffer(limit=1000)
    for _ in range(10):
        buffer.push(np.ones(400, np.float32))
    assert buffer.size <= 1000  # the oldest audio went, not the delay up
    assert len(buffer.pull(300)) == 300 and buffer.size <= 700
    assert not buffer.pull(2000)[-100:].any() and buffer.underruns == 1


def test_wrong_block_length_is_refused(tmp_path, embedder_dir):
    engine = LiveEngine(converter(small_model(tmp_path / "m.pth"), embedder_dir), LiveConfig(block=0.1, context=0.4))
    with pytest.raises(RvcError, match="1600 samples"):
        engine.process(np.zeros(100, np.float32))


# --- the Live tab's handlers: a session per browser stream, a limit, freed on stop or when the page goes ----------


def live_form(model: Path, embedder_dir: Path, chunk, session, **kw):
    from rvc.ui.live import LiveForm

    values = dict(model=str(model), index="", transpose=0, method="pm", index_rate=0.0, block=0.1, crossfade=0.02,
                  context=0.4, silence_db=-100.0, device="cpu", precision="fp32", embedder=str(embedder_dir),
                  chunk=chunk, session=session)  # fmt: skip
    return LiveForm(**{**values, **kw})


def test_live_tab_sessions(tmp_path, embedder_dir, speech, monkeypatch):

    from rvc.ui.context import AppSettings, UiContext
    from rvc.ui.live import free_session, live_chunk, live_stop

    (tmp_path / "weights").mkdir()
    model = small_model(tmp_path / "weights" / "voice.pth")
    ctx = UiContext.open(AppSettings(logs_dir=tmp_path / "logs", live_sessions=2))
    _, x = speech
    mic = (48000, (np.interp(np.arange(0, len(x), 1 / 3), np.arange(len(x)), x) * 32767).astype(np.int16))
    audio, text, first = live_chunk(ctx, live_form(model, embedder_dir, None, None))
    assert audio is None and first is not None and ctx.live.running == 1 and "Latency: 130 ms algorithmic" in text
    got = []
    for i in range(0, 48000, 4800):  # 100 ms microphone chunks at 48 kHz
        audio, text, first = live_chunk(ctx, live_form(model, embedder_dir, (48000, mic[1][i : i + 4800]), first))
        if audio is not None:
            got.append(audio[1])
            assert audio[0] == 40000
    s = first.engine.stats.summary(100)
    blocks = s["blocks"] + s["dropped_blocks"]  # converted, or dropped if this machine fell behind real time
    assert blocks in (9, 10) and sum(len(a) for a in got) == blocks * 4000  # 1 s in (less the resampler's delay)
    assert f"{s['blocks']} blocks" in text
    _, _, second = live_chunk(ctx, live_form(model, embedder_dir, None, None, page="page-2"))
    assert second is not first and second.engine is not first.engine and ctx.live.running == 2
    assert second.engine.c is first.engine.c  # one converter (model, HuBERT, index) for both
    audio, text, waiting = live_chunk(ctx, live_form(model, embedder_dir, None, None))
    assert audio is None and waiting is None and ctx.live.running == 2
    assert "2 live session(s) are running, the most this server allows" in text and "Waiting for a free slot" in text
    text, stopped = live_stop(ctx, live_form(model, embedder_dir, None, first))
    assert stopped == "stopped" and ctx.live.running == 1 and f"{s['blocks']} blocks" in text
    late = live_chunk(ctx, live_form(model, embedder_dir, (48000, mic[1][:4800]), stopped))  # sent before Stop
    assert late[0] is None and late[2] == "stopped" and ctx.live.running == 1  # opens nothing
    thread = next(t for t in threading.enumerate() if t.name.startswith("rvc-live"))
    ctx.live.release_owner("page-2")  # Gradio's unload: the page closed or its connection dropped
    assert ctx.live.running == 0
    thread.join(timeout=10)  # with no session left the compute thread ends: its OpenMP team would slow others'
    assert not thread.is_alive() and ctx.live.compute is None
    free_session(second)  # and, an hour later, its state goes: nothing left to free
    assert ctx.live.running == 0
    _, _, again = live_chunk(ctx, live_form(model, embedder_dir, None, None))  # a new session, a new thread
    assert ctx.live.running == 1 and ctx.live.compute is not None
    live_stop(ctx, live_form(model, embedder_dir, None, again))
    assert ctx.live.running == 0 and ctx.live.compute is None


def test_a_late_stream_drops_blocks_until_it_has_caught_up(tmp_path, embedder_dir):
    """Chunks that arrive later than real time (a slow block, the model loading) are dropped as silence until
    the delay is back under max_backlog blocks: it never accumulates."""
    from rvc.live.sessions import LiveSessions

    sessions = LiveSessions(limit=1)
    cfg = ConvertConfig(f0_method="pm", embedder=embedder_dir, device="cpu", precision="fp32")
    session = sessions.open(small_model(tmp_path / "m.pth"), cfg, LiveConfig(block=0.1, context=0.4, max_backlog=2))
    chunk = (0.1 * np.sin(np.arange(1600) / 5)).astype(np.float32)
    session.feed(16000, chunk)
    session.started -= 5.0  # as if the chunks had waited 5 s behind a slow block
    dropped = session.feed(16000, chunk)
    assert len(dropped) == 4000 and not dropped.any() and session.engine.stats.dropped == 1
    y = session.feed(16000, chunk)  # the backlog was forgiven with the drop: converted again
    assert len(y) == 4000 and y.any() and session.engine.stats.dropped == 1
    session.started -= 0.1  # 100 ms late: under max_backlog (2 blocks), converted
    assert session.feed(16000, chunk).any() and session.engine.stats.dropped == 1
    session.close()
    assert sessions.running == 0
