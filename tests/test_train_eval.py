"""Evaluation during training (metrics rows, the best model, early stopping) and of trained models (``rvc eval``,
``rvc compare``, the A/B comparison), with the real GE2E encoder and tiny random generators."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from rvc.core.errors import EvaluationError
from rvc.evaluation.judge import Evaluation, Judge
from rvc.models.package import read_card
from rvc.steps import judging as J
from rvc.steps.train import loop as T
from rvc.steps.train.metrics import read_metrics
from tests.helpers import silence, tone, write_wav
from tests.test_train import cfg

KEYS = ("mcd_db", "f0_rmse_cents", "vuv_error", "speaker_similarity", "content_similarity", "score")


def eval_cfg(tmp_path, **kw):
    return cfg(tmp_path, no_eval=False, **kw)


def test_each_save_is_evaluated_and_the_best_kept(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    result = T.train(exp, eval_cfg(tmp_path, epochs=2))
    rows = read_metrics(exp.paths.root, kind="eval")
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert all(r[k] is None or math.isfinite(r[k]) for k in KEYS) and 0 <= r["score"] <= 1
        assert r["on_training_pieces"] is True  # too few pieces for a held-out set: said so
    assert [r["step"] for r in read_metrics(exp.paths.root)] == list(range(1, result.step + 1))  # steps unchanged
    best = max(rows, key=lambda r: r["score"])
    assert result.best == (tmp_path / "weights" / "voice_best.pth").resolve() and result.best_epoch == best["epoch"]
    card = read_card(result.best)
    assert card.epoch == best["epoch"] and card.scores["score"] == pytest.approx(best["score"])
    final = read_card(result.small_model)
    assert final.best_epoch == best["epoch"] and "best evaluation: epoch" in final.summary()
    assert list(exp.paths.root.glob("events.out.tfevents.*"))


def scripted(scores):
    """Judge.judge giving these scores in turn (the stopping rule on a known sequence)."""
    it = iter(scores)

    def judge(self, convert):
        s = next(it)
        return Evaluation({k: 0.5 for k in KEYS[:-1]} | {"score": s}, on_training_pieces=True)

    return judge


def test_early_stopping_stops_at_the_right_evaluation_and_keeps_the_best(tmp_path, tiny_experiment, monkeypatch):
    exp = tiny_experiment()
    monkeypatch.setattr(Judge, "judge", scripted([0.5, 0.7, 0.6, 0.65, 0.9, 0.95]))
    result = T.train(exp, eval_cfg(tmp_path, epochs=6, patience=2))
    assert result.epoch == 4 and result.best_epoch == 2  # epochs 3 and 4 did not beat epoch 2: stopped after 4
    assert "no better score in the last 2" in result.stop_reason and "epoch 2" in result.stop_reason
    assert read_card(result.best).epoch == 2
    rows = read_metrics(exp.paths.root, kind="eval")
    assert [r["best"] for r in rows] == [True, True, False, False]
    assert result.checkpoint.name == f"G_{result.step}.pth"  # the stopping epoch is saved: a longer run resumes
    # a resumed run knows the best so far: epoch 5 must beat 0.7 to count as best
    monkeypatch.setattr(Judge, "judge", scripted([0.6, 0.8]))
    again = T.train(exp, eval_cfg(tmp_path, epochs=6, patience=5))
    assert [r["best"] for r in read_metrics(exp.paths.root, kind="eval")][4:] == [False, True]
    assert again.best_epoch == 6


def test_eval_every_n_epochs(tmp_path, tiny_experiment, monkeypatch):
    exp = tiny_experiment()
    monkeypatch.setattr(Judge, "judge", scripted([0.1, 0.2, 0.3]))
    T.train(exp, eval_cfg(tmp_path, epochs=5, save_every=5, eval_every=2))
    assert [r["epoch"] for r in read_metrics(exp.paths.root, kind="eval")] == [2, 4, 5]  # and the last epoch


@pytest.mark.parametrize("kind", ["text", "silent", "short"])
def test_a_bad_probe_stops_training_before_it_starts(tmp_path, tiny_experiment, kind):
    exp = tiny_experiment()
    probe = tmp_path / f"probe_{kind}.wav"
    if kind == "text":
        probe.write_text("not audio")
    else:
        write_wav(probe, silence(3.0, 16000) if kind == "silent" else tone(0.5, 16000), 16000)
    with pytest.raises(EvaluationError, match=probe.name):
        T.train(exp, eval_cfg(tmp_path, probes=(probe,)))
    assert not list(exp.paths.root.glob("G_*.pth")) and not (tmp_path / "weights").exists()


@pytest.fixture
def trained(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    T.train(exp, cfg(tmp_path, epochs=1, save_small=True))
    models = sorted((tmp_path / "weights").glob("voice*.pth"))
    return exp, models


def rvc(*args):
    return subprocess.run([sys.executable, "-m", "rvc", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_eval_and_compare_commands(tmp_path, trained, dataset, embedder_dir):
    exp, models = trained
    logs = exp.paths.root.parent
    probe = dataset / "b.wav"
    r = rvc("eval", models[0], "--experiment", "voice", "--logs-dir", logs, "--probe", probe, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(KEYS) <= set(out) and out["on_training_pieces"] is True and "judged on training pieces" in r.stderr
    assert {"probe_speaker_similarity", "probe_baseline_similarity", "probe_f0_correlation"} <= set(out)
    assert out["probes"][0]["name"] == "b.wav"
    r = rvc("compare", *models, "--data", dataset, "--embedder", embedder_dir, "--f0-method", "pm", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == len(models) and [x["score"] for x in rows] == sorted((x["score"] for x in rows), reverse=True)
    r = rvc("compare", *models, "--experiment", "voice", "--logs-dir", logs)
    assert r.returncode == 0 and r.stdout.splitlines()[0].split()[:3] == ["model", "score", "MCD"]


def test_eval_refuses_what_it_cannot_judge(tmp_path, trained, tiny_experiment):
    exp, models = trained
    logs = exp.paths.root.parent
    g = next(exp.paths.root.glob("G_*.pth"))
    r = rvc("eval", g, "--experiment", "voice", "--logs-dir", logs)
    assert r.returncode == 1 and "cannot be evaluated" in r.stderr and "Traceback" not in r.stderr
    tiny_experiment("other", use_f0=False)
    r = rvc("eval", models[0], "--experiment", "other", "--logs-dir", logs)
    assert r.returncode == 1 and "without pitch" in r.stderr and "--data" in r.stderr
    text = tmp_path / "probe.txt"
    text.write_text("x")
    r = rvc("eval", models[0], "--experiment", "voice", "--logs-dir", logs, "--probe", text, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["kind"] == "EvaluationError"


def test_ab_compare_plays_a_piece_through_two_checkpoints(trained, tmp_path):
    exp, models = trained
    pieces, choices = J.ab_choices(exp, tmp_path / "weights")
    assert pieces and any(c.name.startswith("G_") for c in choices) and set(models) <= set(choices)
    g = next(c for c in choices if c.name.startswith("G_"))
    result = J.ab_compare(exp, pieces[0], [models[0], g])
    assert len(result.converted) == 2
    for audio, metrics in result.converted:
        assert len(audio) == len(result.original) and np.isfinite(audio).all()
        assert metrics["name"] == pieces[0] and metrics["mcd_db"] > 0
    # the same weights (the small model is the checkpoint's generator in half precision): nearly the same audio
    a, b = (torch.from_numpy(x) for x, _ in result.converted)
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.9
    with pytest.raises(EvaluationError, match="no piece"):
        J.ab_compare(exp, "nope", models[:1])
