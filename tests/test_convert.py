"""Conversion: the pipeline end to end with a tiny trained model, chunking, the index, output formats, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rvc import convert as V
from rvc import train as T
from rvc.audio import decode_audio
from rvc.errors import RvcError
from rvc.index import train_index
from tests.helpers import espeak

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def trained(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    cfg = T.TrainConfig(
        epochs=1, batch_size=2, no_pretrained=True, device="cpu", weights_dir=tmp_path / "w", discriminator_scale=0.25
    )
    result = T.train(exp, cfg)
    return exp, result.small_model


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
