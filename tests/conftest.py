"""Shared fixtures: random-weight models in the real file formats (no hub is reachable here)."""

import os

import pytest
import torch
from transformers import HubertConfig

from rvc.content import hubert as H
from tests.helpers import espeak, tone, write_wav
from tests.test_f0 import fill_rmvpe

# No model hub is reachable here: nothing in the tests downloads from it (the CREPE/FCPE weights, from PyPI, are
# fetched by scripts/setup.sh --dev; the weights tests serve their own files and lift this themselves).
os.environ.setdefault("RVC_OFFLINE", "1")

# HuBERT-shaped (768-d hidden, 256-d final_proj, 12 layers) but thin elsewhere, so tests stay fast
SMALL = dict(
    hidden_size=768,
    num_hidden_layers=12,
    intermediate_size=32,
    num_attention_heads=4,
    conv_dim=(32,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=16,
    classifier_proj_size=256,
)


@pytest.fixture(scope="session")
def embedder_dir(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("hubert") / "hubert_base"
    H._build(HubertConfig(**SMALL)).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def rmvpe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt"
    torch.save(fill_rmvpe(), path)
    return path


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("ds")
    espeak("Hello there, this is a short test of the extraction step.", d / "a.wav", pitch=40)
    espeak("A second speaker reads another sentence, a little higher.", d / "b.wav", voice="en-gb+f3", pitch=70)
    write_wav(d / "c.wav", tone(5.0, 22050, 220), 22050)
    return d


TINY_MODEL = {
    "inter_channels": 16, "hidden_channels": 16, "filter_channels": 32, "n_heads": 2, "n_layers": 1,
    "upsample_initial_channel": 32, "gin_channels": 16, "spk_embed_dim": 4,
}  # fmt: skip


def make_tiny_experiment(root, dataset, embedder_dir, name="voice", use_f0=True, version="v2", sample_rate="40k",
                         data=None):  # fmt: skip
    """A 40k v2 experiment with pitch in ``root/logs``, preprocessed and extracted, whose model is shrunk to train
    fast on CPU."""
    import json

    from rvc.core.experiment import ExperimentConfig, create_or_open, open_experiment
    from rvc.steps import extract as X
    from rvc.steps import preprocess as pp

    logs = root / "logs"
    exp, _ = create_or_open(ExperimentConfig(name, sample_rate, version, use_f0), logs)
    cfg = json.loads(exp.paths.config.read_text())
    cfg["model"].update(TINY_MODEL)
    cfg["train"]["segment_size"] = 4 * cfg["data"]["hop_length"]
    exp.paths.config.write_text(json.dumps(cfg))
    exp = open_experiment(name, logs)
    pp.preprocess_dataset(exp, data or dataset, pp.PreprocessConfig(workers=1))
    emb = embedder_dir if version == "v2" else None
    X.extract(exp, X.ExtractConfig(f0_method="pm", embedder=emb or embedder_v1(root), device="cpu"))
    return exp


@pytest.fixture
def narrow_discriminator(monkeypatch):
    """Training jobs started through the app (its Train tab and API) get a quarter-width discriminator, as the
    library's tests give theirs: with the reference's (71 M parameters, 857 MB per D checkpoint with its optimizer
    state) a tiny generator's epoch is mostly writing D_*.pth."""
    import dataclasses

    from rvc.steps import tasks

    made = tasks._train_config
    monkeypatch.setattr(tasks, "_train_config", lambda *a: dataclasses.replace(made(*a), discriminator_scale=0.25))


@pytest.fixture
def tiny_experiment(tmp_path, dataset, embedder_dir):
    """``make(name, use_f0, version, sample_rate, data)``: :func:`make_tiny_experiment` in this test's folder."""
    return lambda *a, **kw: make_tiny_experiment(tmp_path, dataset, embedder_dir, *a, **kw)


def embedder_v1(tmp_path):
    """A HuBERT-shaped folder whose final_proj gives 256-d (v1) features."""
    d = tmp_path / "hubert_v1"
    if not (d / "config.json").exists():
        torch.manual_seed(1)
        H._build(HubertConfig(**SMALL)).save_pretrained(d)
    return d
