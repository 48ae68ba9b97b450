"""The metrics of rvc.evaluation on real recordings: espeak-ng voices as speakers, sox for pitch shifts, the real
GE2E speaker-encoder weights (fetched from the Resemblyzer wheel by the setup), and ``rvc score``."""

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from rvc.cli import main
from rvc.content.hubert import load_embedder
from rvc.core.errors import EvaluationError, WeightsError
from rvc.evaluation import metrics as M
from rvc.evaluation.recordings import load_recording
from rvc.evaluation.speaker import load_speaker_encoder, partial_starts
from rvc.hub import weights

VOICES = ("en+m1", "en+f4", "en+m7", "en+klatt")  # espeak-ng voice variants: distinct timbres and pitch
SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank today.",
    "She sells sea shells by the sea shore while the children play outside.",
)
SPEAKER_MARGIN = 0.05  # same voice, other words vs. same words, other voice: the cosine gap the test demands


def _speak(folder, voice, text, name):
    raw, out = folder / f"{name}.raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """``{(voice, sentence index): wav path}`` at 16 kHz."""
    d = tmp_path_factory.mktemp("voices")
    return {(v, i): _speak(d, v, s, f"{v}-{i}") for v in VOICES for i, s in enumerate(SENTENCES)}


@pytest.fixture(scope="module")
def encoder():
    return load_speaker_encoder()


@pytest.fixture(scope="module")
def x(speech):
    return load_recording(speech[VOICES[0], 0])


def _sox(src, dst, *effect):
    subprocess.run(["sox", str(src), str(dst), *effect], check=True)
    return dst


def test_identical_recordings_score_perfectly(x, encoder, embedder_dir):
    m = M.compare(x, x.copy(), embedder=load_embedder(embedder_dir), encoder=encoder, version="v2")
    assert m.mcd_db == 0.0
    assert m.f0_rmse_cents == 0.0 and m.vuv_error == 0.0
    assert m.speaker_similarity == pytest.approx(1.0, abs=1e-5)
    assert m.content_similarity == pytest.approx(1.0, abs=1e-5)
    assert m.score == pytest.approx(1.0, abs=1e-5) and m.delay_seconds == 0.0


@pytest.mark.parametrize("cents", [100, -100])
def test_a_semitone_shift_is_100_cents(speech, x, tmp_path, cents):
    shifted = load_recording(_sox(speech[VOICES[0], 0], tmp_path / "shifted.wav", "pitch", str(cents)))
    assert len(shifted) == len(x)  # sox's pitch effect keeps the duration
    f0, f0_shifted = M.f0_track(x), M.f0_track(shifted)
    assert abs(M.f0_rmse_cents(f0, f0_shifted) - 100) <= 10
    assert M.f0_correlation(f0, f0_shifted) > 0.95
    assert M.vuv_error(f0, f0_shifted) < 0.1


def test_mcd_grows_with_noise(x):
    rng = np.random.default_rng(0)
    rms = float(np.sqrt(np.mean(x**2)))
    noise = rng.standard_normal(len(x)).astype(np.float32)
    mcd = [M.mcd_db(x, x + noise * rms * 10 ** (-snr / 20)) for snr in (50, 40, 30, 20, 10, 0)]
    assert all(a < b for a, b in itertools.pairwise(mcd)), mcd
    assert 0 < mcd[0] < 2 < mcd[-1] < 20  # dB on the usual scale (SPTK's cepstrum), not a scaled variant


def test_speaker_similarity_follows_the_voice_not_the_words(speech, encoder):
    e = {key: encoder.embed(load_recording(path)) for key, path in speech.items()}
    for v in VOICES:
        assert np.linalg.norm(e[v, 0]) == pytest.approx(1.0, abs=1e-5)
    for v, w in itertools.combinations(VOICES, 2):
        same_voice = min(M.cosine(e[v, 0], e[v, 1]), M.cosine(e[w, 0], e[w, 1]))
        same_words = max(M.cosine(e[v, 0], e[w, 0]), M.cosine(e[v, 1], e[w, 1]))
        assert same_voice > same_words + SPEAKER_MARGIN, (v, w, same_voice, same_words)


def test_embed_many_is_the_voice_of_its_recordings(speech, encoder):
    recs = [load_recording(speech[VOICES[1], i]) for i in range(2)]
    voice = encoder.embed_many(recs)
    assert np.linalg.norm(voice) == pytest.approx(1.0, abs=1e-5)
    assert all(M.cosine(voice, encoder.embed(r)) > 0.9 for r in recs)
    with pytest.raises(ValueError):
        encoder.embed_many([])


def test_partials_cover_the_recording():
    assert partial_starts(8000) == [0]  # shorter than one partial: one, padded
    starts = partial_starts(5 * 16000)
    assert starts[0] == 0 and all(b - a == 77 for a, b in itertools.pairwise(starts))
    assert (5 * 16000 - starts[-1] * 160) / (160 * 160) >= 0.75


@pytest.mark.parametrize("lag", [1234, -777])
def test_alignment_recovers_a_delay(x, lag):
    late = np.concatenate([np.zeros(lag, np.float32), x]) if lag > 0 else x[-lag:]
    assert M.delay(x, late) == lag
    a, b = M.align(x, late)
    assert len(a) == len(b) and M.mcd_db(a, b) == pytest.approx(0.0, abs=1e-6)


def test_score_parts_and_missing_values():
    perfect = {"mcd_db": 0.0, "f0_rmse_cents": 0.0, "vuv_error": 0.0, "speaker_similarity": 1.0}
    assert M.overall_score(perfect | {"content_similarity": 1.0}) == pytest.approx(1.0)
    assert M.overall_score(perfect | {"content_similarity": None}) == pytest.approx(1.0)  # left out, renormalised
    worse = perfect | {"mcd_db": 5.0}
    assert M.overall_score(worse) < M.overall_score(perfect)
    assert M.overall_score({"f0_rmse_cents": math.nan}) == 0.0
    # with probes, the speaker part is the mean of the pieces' and the probes' similarity
    assert M.overall_score({"speaker_similarity": 1.0, "probe_speaker_similarity": 0.5}) == pytest.approx(0.75)


def test_f0_metrics_with_nothing_voiced_say_so():
    silent, voiced = np.zeros(100), np.full(100, 200.0)
    assert math.isnan(M.f0_rmse_cents(silent, voiced)) and math.isnan(M.f0_correlation(silent, voiced))
    assert M.vuv_error(silent, voiced) == 1.0
    assert M.f0_rmse_cents(voiced, voiced * 2) == pytest.approx(1200.0)


def test_the_speaker_weights_come_from_the_wheel_and_are_checked():
    (file,) = weights.registry()["speaker-ge2e"][1]
    assert file.source.startswith("pypi:resemblyzer==") and file.size == 17090379 and len(file.sha256) == 64
    assert weights.status()["speaker-ge2e"]  # fetched and verified by the setup


def test_a_file_that_is_not_ge2e_weights_is_refused(tmp_path):
    bad = tmp_path / "ge2e.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a GE2E"):
        load_speaker_encoder(bad)


def test_rvc_score_json_aligns_and_measures(speech, tmp_path, embedder_dir):
    ref = speech[VOICES[0], 0]
    late = _sox(ref, tmp_path / "late.wav", "pad", "0.25", "0")  # starts 0.25 s later, longer by as much
    cmd = [sys.executable, "-m", "rvc", "score", str(ref), str(late), "--json", "--embedder", str(embedder_dir)]
    r = subprocess.run([*cmd, "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    keys = {"mcd_db", "f0_rmse_cents", "vuv_error", "speaker_similarity", "content_similarity", "score"}
    assert keys <= set(out)
    assert out["delay_seconds"] == pytest.approx(0.25, abs=1e-3)
    assert out["mcd_db"] < 0.5 and out["speaker_similarity"] > 0.99 and out["score"] > 0.95


def test_rvc_score_text_names_each_metric(speech, capsys, embedder_dir):
    ref, other = speech[VOICES[0], 0], speech[VOICES[1], 0]
    assert main(["score", str(ref), str(other), "--embedder", str(embedder_dir), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    for label in ("mel-cepstral distortion", "F0 RMSE", "speaker similarity", "content similarity", "score"):
        assert label in text


def _bad_inputs(tmp_path):
    from rvc.audio.io import write_wav_float32

    (tmp_path / "notes.wav").write_text("these are not samples")
    write_wav_float32(tmp_path / "silent.wav", np.zeros(32000, np.float32), 16000)
    write_wav_float32(tmp_path / "short.wav", 0.3 * np.sin(np.arange(8000) / 10).astype(np.float32), 16000)
    return {
        "notes.wav is not audio": tmp_path / "notes.wav",
        "silent.wav is silent": tmp_path / "silent.wav",
        "short.wav is 0.50 s long": tmp_path / "short.wav",
        "does not exist": tmp_path / "missing.wav",
    }


def test_rvc_score_refuses_bad_recordings_in_one_line(speech, tmp_path, capsys):
    good = speech[VOICES[0], 0]
    for message, bad in _bad_inputs(tmp_path).items():
        assert main(["score", str(good), str(bad), "--json"]) == 1
        captured = capsys.readouterr()
        (line,) = captured.err.strip().splitlines()
        assert line.startswith("error: test recording") and message in line
        assert json.loads(captured.out)["kind"] == "EvaluationError"
    with pytest.raises(EvaluationError, match="probe silent.wav is silent"):
        load_recording(tmp_path / "silent.wav", "probe")
