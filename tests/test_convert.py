"""Conversion: the pipeline end to end with a tiny trained model, chunking, the index, output formats, errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rvc.audio.io import decode_audio
from rvc.core.errors import RvcError
from rvc.core.experiment import open_experiment
from rvc.inference import convert as V
from rvc.steps.index import train_index
from rvc.steps.train import loop as T
from rvc.steps.train.config import TrainConfig
from tests.conftest import make_tiny_experiment
from tests.helpers import espeak

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory, dataset, embedder_dir):
    """One tiny experiment, preprocessed, extracted and trained for an epoch, for the whole module."""
    root = tmp_path_factory.mktemp("trained")
    exp = make_tiny_experiment(root, dataset, embedder_dir)
    cfg = TrainConfig(
        epochs=1, batch_size=2, no_pretrained=True, device="cpu", weights_dir=root / "w", discriminator_scale=0.25
    )
    return root, exp.name, T.train(exp, cfg).small_model.name


@pytest.fixture
def trained(tmp_path, trained_once):
    """Each test's own copy of the trained experiment and its small model (a test may change either)."""
    root, name, model = trained_once
    shutil.copytree(root / "logs", tmp_path / "logs")
    shutil.copytree(root / "w", tmp_path / "w")
    return open_experiment(name, tmp_path / "logs"), tmp_path / "w" / model


def test_convert_with_index_and_formats(tmp_path, trained, embedder_dir):
    exp, model = trained
    index = train_index(exp).path
    src = espeak("Converting this short sentence with the new voice.", tmp_path / "in.wav")
    seconds = decode_audio(src, 16000).source_seconds
    for fmt in ("wav", "flac", "mp3", "ogg"):
        cfg = V.ConvertConfig(f0_method="pm", index=index, embedder=embedder_dir, device="cpu", transpose=2)
        r = V.convert_file(model, src, tmp_path / f"out.{fmt}", cfg)
        out = decode_audio(r.output, r.sample_rate)
        assert r.sample_rate == {"wav": 40000, "flac": 40000, "mp3": 48000, "ogg": 48000}[fmt]
        assert abs(out.source_seconds - seconds) < 0.1 and np.isfinite(out.samples).all()
        assert 0 < np.abs(out.samples).max() <= 1.0


def test_long_inputs_are_cut_at_quiet_points(tmp_path, trained, embedder_dir):
    _, model = trained
    rng = np.random.default_rng(0)
    tone = np.sin(2 * np.pi * 200 * np.arange(12800) / 16000) * 0.3
    x = np.concatenate([tone, np.zeros(3200)] * 5).astype(np.float32)  # a pause ending at every whole second
    x += 1e-4 * rng.standard_normal(len(x)).astype(np.float32)
    small = V.ConvertConfig(
        f0_method="pm", embedder=embedder_dir, device="cpu", x_pad=0.2, x_query=0.3, x_center=1.0, x_max=1.5
    )
    cuts = V.cut_points(x, small)
    assert len(cuts) >= 3 and all(c % 160 == 0 for c in cuts)
    assert all(np.abs(x[c - 80 : c + 80]).max() < 0.01 for c in cuts)  # in the silences
    conv = V.Converter(model, small)
    out, sr, info = conv.convert(x)
    assert info["chunks"] == len(cuts) + 1 and sr == 40000
    assert abs(len(out) / sr - len(x) / 16000) < 0.02


def test_errors(tmp_path, trained, embedder_dir):
    _, model = trained
    src = espeak("Hi.", tmp_path / "in.wav")
    with pytest.raises(RvcError, match="output format must be one of"):
        V.convert_file(model, src, tmp_path / "out.xyz", V.ConvertConfig(embedder=embedder_dir))
    with pytest.raises(RvcError, match="index not found"):
        V.convert_file(
            model,
            src,
            tmp_path / "o.wav",
            V.ConvertConfig(f0_method="pm", index=tmp_path / "none.index", embedder=embedder_dir),
        )
    with pytest.raises(ValueError, match="protect must be between 0 and 0.5"):
        V.ConvertConfig(protect=0.9)


def test_cli_infer(tmp_path, trained, embedder_dir):
    _, model = trained
    src = espeak("One more test of the command line.", tmp_path / "in.wav")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rvc", "infer", str(model), str(src), str(tmp_path / "o.flac"), "--f0-method", "pm"]
    cmd += ["--embedder", str(embedder_dir), "--device", "cpu", "--transpose", "-3", "--rms-mix-rate", "1", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sample_rate"] == 40000 and (tmp_path / "o.flac").stat().st_size > 1000


def test_bad_models_indexes_and_inputs(tmp_path, trained, embedder_dir):
    """Each bad input is a clear message, or a correct result: never a traceback."""
    import faiss
    import torch

    from rvc.core.errors import AudioDecodeError, ModelFileError
    from tests.helpers import ffmpeg, write_wav

    _, model = trained
    cfg = V.ConvertConfig(f0_method="pm", embedder=embedder_dir, device="cpu")
    src = espeak("A short sentence.", tmp_path / "in.wav")

    text = tmp_path / "notes.pth"
    text.write_text("not a model")
    with pytest.raises(ModelFileError, match="notes.pth"):
        V.convert_file(text, src, tmp_path / "o.wav", cfg)

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    evil = tmp_path / "evil.pth"
    torch.save({"weight": Boom()}, evil)
    with pytest.raises(ModelFileError):
        V.convert_file(evil, src, tmp_path / "o.wav", cfg)
    assert not (tmp_path / "pwned").exists()

    v1_index = tmp_path / "added_IVF1_Flat_nprobe_1_x_v1.index"
    idx = faiss.index_factory(256, "IVF1,Flat")
    feats = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)
    idx.train(feats)
    idx.add(feats)
    faiss.write_index(idx, str(v1_index))
    with pytest.raises(RvcError, match="holds 256-d vectors; this model needs a 768-d \\(v2\\) index"):
        V.convert_file(model, src, tmp_path / "o.wav", V.ConvertConfig(**{**cfg.__dict__, "index": v1_index}))

    video = tmp_path / "video.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=32x32:d=1", "-an", str(video))
    with pytest.raises(AudioDecodeError, match="video.mp4"):
        V.convert_file(model, video, tmp_path / "o.wav", cfg)

    silent = write_wav(tmp_path / "silent.wav", np.zeros(3 * 16000, np.float32), 16000)
    r = V.convert_file(model, silent, tmp_path / "silent_out.wav", cfg)
    out = decode_audio(r.output, r.sample_rate).samples
    assert abs(len(out) / r.sample_rate - 3.0) < 0.01 and np.isfinite(out).all()

    one = write_wav(tmp_path / "one.wav", 0.3 * np.sin(np.arange(16000) * 2 * np.pi * 220 / 16000), 16000)
    r = V.convert_file(model, one, tmp_path / "one_out.flac", cfg)
    out = decode_audio(r.output, r.sample_rate).samples
    assert abs(len(out) / r.sample_rate - 1.0) < 0.01 and np.isfinite(out).all()


def test_index_rate_zero_equals_no_index(tmp_path, trained, embedder_dir):
    exp, model = trained
    index = train_index(exp).path
    x = decode_audio(espeak("Same output either way.", tmp_path / "in.wav"), 16000).samples
    torch_seed = 7
    outs = []
    for idx in (None, index):
        import torch

        torch.manual_seed(torch_seed)
        cfg = V.ConvertConfig(f0_method="pm", embedder=embedder_dir, device="cpu", index=idx, index_rate=0.0)
        outs.append(V.Converter(model, cfg).convert(x)[0])
    np.testing.assert_array_equal(outs[0], outs[1])


def test_long_inputs_stream_part_by_part(tmp_path, trained, embedder_dir):
    """Above ``stream_above`` seconds the parts are converted and written one by one: the same duration to the
    sample, the same cut points, a loudness like the whole-array path's, in every format."""
    from tests.helpers import write_wav

    _, model = trained
    tone = np.sin(2 * np.pi * 200 * np.arange(12800) / 16000) * 0.3
    x = np.concatenate([tone, np.zeros(3200)] * 6).astype(np.float32)
    x += 1e-4 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    src = write_wav(tmp_path / "long.wav", x, 16000)
    small = dict(f0_method="pm", embedder=embedder_dir, device="cpu", x_pad=0.2, x_query=0.3, x_center=1.0, x_max=1.5)
    whole = V.convert_file(model, src, tmp_path / "whole.wav", V.ConvertConfig(**small))
    for fmt, rate in (("wav", 40000), ("flac", 40000), ("mp3", 48000), ("ogg", 48000)):
        cfg = V.ConvertConfig(**small, stream_above=2.0, resample_sr=0 if fmt != "wav" else 32000)
        r = V.convert_file(model, src, tmp_path / f"streamed.{fmt}", cfg, fmt)
        want = 32000 if fmt == "wav" else rate
        assert r.sample_rate == want and r.chunks == whole.chunks and set(r.timings) == {"pitch", "convert", "total"}
        out = decode_audio(r.output, want).samples
        assert abs(len(out) / want - len(x) / 16000) < (0.001 if fmt in ("wav", "flac") else 0.08)
        assert np.isfinite(out).all() and 0 < np.abs(out).max() <= 1.0
    a = decode_audio(whole.output, 40000).samples
    b = decode_audio(tmp_path / "streamed.flac", 40000).samples
    rms = lambda v: float(np.sqrt(np.mean(v**2)))  # noqa: E731
    assert 0.5 < rms(b) / rms(a) < 2.0


def test_a_reference_layout_small_model_from_the_fixture_converts(tmp_path, embedder_dir):
    """The fixture's seeded v2-40k generator (the reference's sizes), saved in the small-model layout RVC WebUI
    writes, converts a recording end to end."""
    from rvc.models import checkpoint as C
    from tests.test_models import case, seeded_generator

    cfg_json, cfg, _ = case("v2_40k_f0")
    small = C.small_model(seeded_generator("v2_40k_f0").state_dict(), cfg, cfg_json["sr"], "fixture")
    small = {k: small[k] for k in ("weight", "config", "info", "sr", "f0", "version")}  # exactly the reference keys
    torch_save = __import__("torch").save
    torch_save(small, tmp_path / "fixture.pth")
    src = espeak("Hi.", tmp_path / "in.wav")  # short: the generator has the reference sizes
    r = V.convert_file(
        tmp_path / "fixture.pth",
        src,
        tmp_path / "out.wav",
        V.ConvertConfig(f0_method="pm", embedder=embedder_dir, device="cpu"),
    )
    out = decode_audio(r.output, 40000).samples
    assert r.sample_rate == 40000 and abs(len(out) / 40000 - decode_audio(src, 16000).source_seconds) < 0.01
    assert np.isfinite(out).all() and np.abs(out).max() > 0


def test_bf16_generator_stays_close_to_fp32(tmp_path, trained, embedder_dir):
    import torch
    from scipy.signal import resample_poly

    from rvc.core.options import SettingError
    from rvc.evaluation.metrics import mcd_db

    _, model = trained
    x = decode_audio(espeak("The same voice in either precision.", tmp_path / "in.wav"), 16000).samples
    outs = []
    for precision in ("fp32", "bf16"):
        torch.manual_seed(3)
        cfg = V.ConvertConfig(f0_method="pm", embedder=embedder_dir, device="cpu", precision=precision)
        audio, sr, _ = V.Converter(model, cfg).convert(x)
        outs.append(audio)
    assert outs[0].dtype == outs[1].dtype == np.float32 and outs[0].shape == outs[1].shape
    assert not np.array_equal(outs[0], outs[1])  # bf16 really ran
    assert sr == 40000
    a, b = (resample_poly(o, 2, 5).astype(np.float32) for o in outs)  # the metrics' 16 kHz
    assert mcd_db(a, b) < 1.0  # dB: near-identical (bf16 keeps 8 bits of mantissa)
    with pytest.raises(SettingError, match="precision"):
        V.ConvertConfig(precision="fp16")


@pytest.mark.parametrize("feature", [None, "AVX-512 BF16", "AMX"])
def test_auto_precision_is_bf16_only_on_cpus_with_fast_bf16(monkeypatch, feature):
    from rvc.nn import devices

    monkeypatch.setattr(devices, "cpu_bf16_feature", lambda: feature)  # as rvc.nn.devices imported it
    precision, why = devices.pick_precision("auto", "cpu")
    assert precision == ("bf16" if feature else "fp32") and why.startswith("auto: this CPU has")
    assert (feature or "no AVX-512 BF16 or AMX") in why
    narrow = devices.pick_precision("auto", "cpu", width=32)  # a tiny decoder: bf16 gains little, prepares slower
    assert narrow[0] == "fp32" and (not feature or "32-channel decoder" in narrow[1])
    assert devices.pick_precision("auto", "cuda:0")[0] == "fp32"
    assert devices.pick_precision("fp32", "cpu") == ("fp32", "as chosen")
    assert devices.pick_precision("bf16", "cpu") == ("bf16", "as chosen")
    assert V.ConvertConfig().precision == "auto"
