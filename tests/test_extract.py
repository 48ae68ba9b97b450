"""Step 2b end to end on a preprocessed experiment, with random-weight HuBERT and RMVPE in the real formats."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from transformers import HubertConfig

from rvc.audio.io import write_wav_float32
from rvc.content import hubert as H
from rvc.core.errors import Cancelled, IncompleteStepError, RvcError
from rvc.core.experiment import ExperimentConfig, create_or_open
from rvc.hub.weights import WeightsError
from rvc.steps import extract as X
from rvc.steps import preprocess as pp
from tests.conftest import SMALL
from tests.helpers import espeak, tone, write_wav

ROOT = Path(__file__).resolve().parent.parent


def make_experiment(tmp_path, dataset, **kw):
    exp, _ = create_or_open(ExperimentConfig("voice", **kw), tmp_path / "logs")
    pp.preprocess_dataset(exp, dataset, pp.PreprocessConfig(workers=1))
    return exp


@pytest.mark.parametrize("method", ["pm", "harvest", "rmvpe"])
def test_extract_v2_with_pitch(tmp_path, dataset, embedder_dir, rmvpe_file, method):
    exp = make_experiment(tmp_path, dataset, version="v2")
    seen = []
    cfg = X.ExtractConfig(f0_method=method, embedder=embedder_dir, rmvpe=rmvpe_file, workers=2, device="cpu")
    report = X.extract(exp, cfg, on_progress=seen.append)
    stems = sorted(s for f in pp.load_report(exp.paths).files for s in f.stems)
    assert report.totals["done"] == len(stems) > 3 and report.complete
    for stem in stems:
        n = len(X.read_16k(exp.paths.wavs16k / f"{stem}.wav"))
        hz = np.load(exp.paths.f0_hz / f"{stem}.wav.npy")
        coarse = np.load(exp.paths.f0_coarse / f"{stem}.wav.npy")
        feats = np.load(exp.paths.features("v2") / f"{stem}.npy")
        assert hz.dtype == np.float64 and coarse.dtype == np.int64
        assert len(hz) == len(coarse) == (n // 160 if method == "pm" else n // 160 + 1)
        assert coarse.min() >= 1 and coarse.max() <= 255
        assert feats.dtype == np.float32 and feats.shape == ((n - 400) // 320 + 1, 768)
    assert {p.stage for p in seen} == {"pitch", "features"}
    assert seen[-1].done == seen[-1].total == len(stems)
    if method != "rmvpe":  # random RMVPE weights give random pitch; the others hear the voices
        assert report.totals["voiced_ratio"] > 0.3
    saved = json.loads((exp.paths.root / "extract.json").read_text())
    assert saved["complete"] and saved["f0_method"] == method


def test_extract_v1_without_pitch(tmp_path, dataset, embedder_dir):
    exp = make_experiment(tmp_path, dataset, version="v1", use_f0=False)
    report = X.extract(exp, X.ExtractConfig(embedder=embedder_dir, device="cpu"))
    assert not exp.paths.f0_coarse.exists() and report.f0_method is None
    f = np.load(next(exp.paths.features("v1").iterdir()))
    assert f.shape[1] == 256


def test_resume_keeps_finished_pieces(tmp_path, dataset, embedder_dir):
    exp = make_experiment(tmp_path, dataset)
    cfg = X.ExtractConfig(f0_method="pm", embedder=embedder_dir, workers=1, device="cpu")
    stop = threading.Event()
    count = []

    def stop_after_three(p):
        count.append(p)
        if len(count) == 3:
            stop.set()

    with pytest.raises(Cancelled):
        X.extract(exp, cfg, on_progress=stop_after_three, stop=stop)
    done = sorted(p.name for p in exp.paths.f0_hz.iterdir())
    assert len(done) == 3
    mtimes = {p.name: p.stat().st_mtime_ns for p in exp.paths.f0_hz.iterdir()}
    (exp.paths.f0_hz / ".0_9.wav.npy.tmp-1-2").write_bytes(b"half")  # a write cut short by a kill
    assert X.load_extract_report(exp) is None  # incomplete: later steps do not take it
    report = X.extract(exp, cfg)
    assert report.complete and report.totals["done"] == report.totals["pieces"]
    assert all((exp.paths.f0_hz / n).stat().st_mtime_ns == t for n, t in mtimes.items())  # not redone
    assert not list(exp.paths.f0_hz.glob(".*"))
    assert X.load_extract_report(exp).totals == report.totals


def test_changing_the_method_recomputes_pitch(tmp_path, dataset, embedder_dir):
    exp = make_experiment(tmp_path, dataset)
    X.extract(exp, X.ExtractConfig(f0_method="pm", embedder=embedder_dir, device="cpu"))
    first = np.load(next(exp.paths.f0_hz.iterdir()))
    feat_mtime = next(exp.paths.features("v2").iterdir()).stat().st_mtime_ns
    X.extract(exp, X.ExtractConfig(f0_method="harvest", embedder=embedder_dir, device="cpu"))
    assert len(np.load(next(exp.paths.f0_hz.iterdir()))) == len(first) + 1  # harvest has one frame more
    assert next(exp.paths.features("v2").iterdir()).stat().st_mtime_ns == feat_mtime  # same embedder: kept


def test_batched_features_equal_single(tmp_path, dataset, embedder_dir):
    a = make_experiment(tmp_path / "a", dataset)
    b = make_experiment(tmp_path / "b", dataset)
    X.extract(a, X.ExtractConfig(f0_method="pm", embedder=embedder_dir, device="cpu", batch_seconds=64))
    X.extract(b, X.ExtractConfig(f0_method="pm", embedder=embedder_dir, device="cpu", batch_seconds=0.001))
    for p in a.paths.features("v2").iterdir():
        assert np.abs(np.load(p) - np.load(b.paths.features("v2") / p.name)).max() <= 1e-4


def test_too_short_piece_is_skipped_and_reported(tmp_path, embedder_dir):
    exp, _ = create_or_open(ExperimentConfig("voice"), tmp_path / "logs")
    d = tmp_path / "d"
    write_wav(d / "a.wav", tone(2.0, 16000), 16000)
    pp.preprocess_dataset(exp, d)
    stem = pp.load_report(exp.paths).files[0].stems[0]
    short = np.zeros(300, np.float32)  # 19 ms: shorter than Praat's window and than one HuBERT frame
    write_wav_float32(exp.paths.wavs16k / f"{stem}.wav", short, 16000)
    report = X.extract(exp, X.ExtractConfig(f0_method="pm", embedder=embedder_dir, device="cpu"))
    assert report.totals["skipped"] == 1 and "too short for pm" in report.pieces[0].skipped


def test_bad_inputs(tmp_path, dataset, embedder_dir, monkeypatch):
    exp, _ = create_or_open(ExperimentConfig("fresh"), tmp_path / "logs")
    with pytest.raises(IncompleteStepError, match="run Step 2a first"):
        X.extract(exp, X.ExtractConfig(embedder=embedder_dir))
    exp = make_experiment(tmp_path, dataset)
    monkeypatch.setenv("RVC_OFFLINE", "1")
    monkeypatch.setenv("RVC_PRETRAINED_DIR", str(tmp_path / "pretrained"))
    with pytest.raises(WeightsError, match=r"rmvpe.pt .* missing .*resolve/main/rmvpe.pt"):
        X.extract(exp, X.ExtractConfig(f0_method="rmvpe", embedder=embedder_dir))
    with pytest.raises(WeightsError, match=r"config.json \(contentvec\) is missing"):
        X.extract(exp, X.ExtractConfig(f0_method="pm"))
    corrupt = tmp_path / "pretrained" / "rmvpe.pt"
    corrupt.parent.mkdir(exist_ok=True)
    corrupt.write_bytes(os.urandom(1000))
    with pytest.raises(WeightsError, match=f"{corrupt} is damaged or incomplete"):
        X.extract(exp, X.ExtractConfig(f0_method="rmvpe", embedder=embedder_dir))
    # an embedder of the wrong width for the version
    thin = tmp_path / "thin"
    H._build(HubertConfig(**{**SMALL, "hidden_size": 64, "num_conv_pos_embedding_groups": 4})).save_pretrained(thin)
    with pytest.raises(H.EmbedderError, match="gives 64-d v2 features; a v2 model needs 768-d"):
        X.extract(exp, X.ExtractConfig(f0_method="pm", embedder=thin))
    with pytest.raises(RvcError, match="PyTorch sees no CUDA GPU"):
        X.extract(exp, X.ExtractConfig(f0_method="pm", embedder=embedder_dir, device="cuda"))


def cli(*args, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "rvc", *args], capture_output=True, text=True, env=env)


def test_cli_extract_and_pitch(tmp_path, dataset, embedder_dir, rmvpe_file):
    logs = str(tmp_path / "logs")
    assert cli("create", "v", "--logs-dir", logs).returncode == 0
    r = cli("extract", "v", "--logs-dir", logs, "--embedder", str(embedder_dir))
    assert r.returncode == 1 and "run Step 2a first" in r.stderr
    assert cli("preprocess", "v", str(dataset), "--logs-dir", logs).returncode == 0
    r = cli("extract", "v", "--f0-method", "dio", "--embedder", str(embedder_dir), "--json", "--logs-dir", logs)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["totals"]["skipped"] == 0 and "[features" in r.stderr
    # the pitch utility
    wav = espeak("Testing the pitch command.", tmp_path / "p.wav", pitch=50)
    r = cli("pitch", str(wav), "--method", "harvest", "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["frame_rate"] == 100 and 60 < out["median_hz"] < 300
    assert len(out["f0"]) == out["frames"]
    r = cli("pitch", str(wav), "--method", "rmvpe", "--weights", str(rmvpe_file), "--out", str(tmp_path / "f0.npy"))
    assert r.returncode == 0, r.stderr and np.load(tmp_path / "f0.npy").ndim == 1
    r = cli(
        "pitch", str(wav), "--method", "rmvpe", env={"RVC_OFFLINE": "1", "RVC_PRETRAINED_DIR": str(tmp_path / "none")}
    )
    assert r.returncode == 1 and "rmvpe.pt (rmvpe) is missing and downloads are off" in r.stderr
    r = cli("download", "--list")
    assert r.returncode == 0 and "rmvpe" in r.stdout and "f0G40k-v2" in r.stdout
    r = cli("download", "nope")
    assert r.returncode == 1 and "unknown weights nope" in r.stderr


def test_one_stage_at_a_time(tmp_path, dataset, embedder_dir):
    exp = make_experiment(tmp_path, dataset)
    r = X.extract(exp, X.ExtractConfig(f0_method="dio", stages=("pitch",)))  # no embedder needed
    assert r.complete and not exp.paths.features("v2").exists() or not any(exp.paths.features("v2").iterdir())
    mtimes = {p.name: p.stat().st_mtime_ns for p in exp.paths.f0_hz.iterdir()}
    r = X.extract(exp, X.ExtractConfig(embedder=embedder_dir, device="cpu", stages=("features",)))
    assert r.f0_method == "dio" and r.totals["skipped"] == 0 and r.totals["f0_frames"] > 0
    assert {p.name: p.stat().st_mtime_ns for p in exp.paths.f0_hz.iterdir()} == mtimes  # pitch untouched
    assert len(list(exp.paths.features("v2").iterdir())) == r.totals["pieces"]


def test_weights_are_fetched_on_first_need_with_progress(tmp_path, dataset, rmvpe_file, embedder_dir, monkeypatch):
    # the hub is a local server holding the (random-weight) rmvpe.pt; the registry entry is pointed at its digest
    import hashlib
    import http.server
    import threading as th

    from rvc.hub import weights as W

    data = rmvpe_file.read_bytes()
    handler = type("H", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    served = tmp_path / "hub" / W.HUB_REPO / "resolve" / "main"
    served.mkdir(parents=True)
    (served / "rmvpe.pt").write_bytes(data)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(tmp_path / "hub")))
    th.Thread(target=server.serve_forever, daemon=True).start()
    real = W.registry()
    entry = W.WeightFile("rmvpe.pt", len(data), hashlib.sha256(data).hexdigest(), "rmvpe.pt")
    monkeypatch.setattr(W, "registry", lambda: {**real, "rmvpe": ("rmvpe", (entry,))})
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("RVC_PRETRAINED_DIR", str(tmp_path / "pretrained"))
    monkeypatch.delenv("RVC_OFFLINE", raising=False)
    try:
        exp = make_experiment(tmp_path, dataset)
        seen = []
        X.extract(exp, X.ExtractConfig(f0_method="rmvpe", embedder=embedder_dir, device="cpu"), on_progress=seen.append)
        downloads = [p for p in seen if p.stage == "download"]
        assert downloads and downloads[-1].done == downloads[-1].total == len(data)
        assert (tmp_path / "pretrained" / "rmvpe.pt").read_bytes() == data
    finally:
        server.shutdown()
