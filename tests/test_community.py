"""Models made elsewhere: Applio's small-model keys and weight names, its vocoders, and named embedders chosen by
the model (tiny random embedders standing in for the downloads, through the real registry and loading code)."""

import hashlib
import shutil

import numpy as np
import pytest
import torch

from rvc.content import embedders as E
from rvc.core.errors import EmbedderError, ModelFileError
from rvc.hub import weights as W
from rvc.inference.config import ConvertConfig
from rvc.inference.converter import Converter
from rvc.models.package import CardFacts, card_fields, read_card
from rvc.models.synthesizer import load_generator
from tests.helpers import tiny_model, tone

APPLIO_KEYS = {
    "epoch": 120, "step": 4800, "sr": 40000, "f0": True, "version": "v2", "creation_date": "2025-03-01T10:20:30.123456",
    "model_hash": "ab" * 32, "overtrain_info": "None", "dataset_length": "00:10:23", "model_name": "Alice",
    "author": "alice", "embedder_model": "spin-v2", "speakers_id": 1, "vocoder": "HiFi-GAN",
}  # fmt: skip


def applio_model(path, base, **keys):
    """A small model as Applio writes it for its own architecture: parametrizations spelling, its keys."""
    data = torch.load(base, weights_only=True)
    data["weight"] = {
        k.replace(".weight_g", ".parametrizations.weight.original0").replace(
            ".weight_v", ".parametrizations.weight.original1"
        ): v
        for k, v in data["weight"].items()
    }
    data.update({**APPLIO_KEYS, **keys})
    torch.save(data, path)
    return path


@pytest.fixture
def named_embedders(tmp_path, monkeypatch, embedder_dir):
    """contentvec and spin-v2 in the registry as local files with their real sizes and digests (a different random
    embedder each), in a pretrained folder of their own: ensure() verifies them as it would downloads."""
    root = tmp_path / "pretrained"
    reg = {}
    for i, name in enumerate(("contentvec", "spin-v2")):
        folder = root / "embedders" / name
        shutil.copytree(embedder_dir, folder)
        if i:  # another embedder: other weights
            sd = (
                torch.load(folder / "pytorch_model.bin", weights_only=True)
                if (folder / "pytorch_model.bin").exists()
                else None
            )
            if sd is None:
                from safetensors.torch import load_file, save_file

                st = load_file(folder / "model.safetensors")
                save_file({k: v + 0.01 for k, v in st.items()}, folder / "model.safetensors")
        files = tuple(
            W.WeightFile(str(f.relative_to(root)), f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest(), "x")
            for f in sorted(folder.iterdir())
        )
        reg[name] = (name, files)
    monkeypatch.setattr(W, "registry", lambda: reg)
    monkeypatch.setenv("RVC_PRETRAINED_DIR", str(root))
    return root


def test_applio_model_card_and_weight_names(tmp_path):
    path = applio_model(tmp_path / "alice.pth", tiny_model(tmp_path / "base.pth"))
    card = read_card(path)
    assert (card.embedder, card.vocoder, card.model_name, card.author) == ("spin-v2", "HiFi-GAN", "Alice", "alice")
    assert card.sample_rate == "40k" and card.f0 and card.epoch == 120 and card.step == 4800
    assert card.dataset_seconds == 623 and card.speakers == 1 and card.creation_date.startswith("2025-03-01")
    summary = card.summary()
    assert "embedder spin-v2" in summary and "made by alice on 2025-03-01" in summary and "10.4 min" in summary
    net = load_generator(path)  # .parametrizations.weight.original0/1 read as weight_g/weight_v
    ref = load_generator(tmp_path / "base.pth")
    mine, theirs = net.state_dict(), ref.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs if not k.startswith("enc_q."))  # small: no enc_q
    assert net.meta["embedder_model"] == "spin-v2"


@pytest.mark.parametrize("vocoder", ["RefineGAN", "MRF HiFi-GAN"])
def test_other_vocoders_are_refused_by_name(tmp_path, vocoder):
    path = applio_model(tmp_path / "v.pth", tiny_model(tmp_path / "base.pth"), vocoder=vocoder)
    assert read_card(path).vocoder == vocoder and f"vocoder {vocoder}" in read_card(path).summary()
    with pytest.raises(ModelFileError, match=f"Applio's {vocoder} vocoder"):
        load_generator(path)


def test_conversion_uses_the_models_embedder(tmp_path, named_embedders):
    path = applio_model(tmp_path / "alice.pth", tiny_model(tmp_path / "base.pth"))
    cfg = dict(f0_method="pm", device="cpu", precision="fp32")
    c = Converter(path, ConvertConfig(**cfg))
    assert c.embedder_name == "spin-v2" and c.embedder.source == named_embedders / "embedders" / "spin-v2"
    out, sr, _ = c.convert(tone(1.0, 16000))
    assert sr == 40000 and np.isfinite(out).all() and out.size > 0
    with pytest.raises(EmbedderError, match="trained with the spin-v2 embedder; contentvec gives other features"):
        Converter(path, ConvertConfig(**cfg, embedder="contentvec"))
    with pytest.raises(EmbedderError, match="pretrained/embedders/spin-v2/"):
        Converter(path, ConvertConfig(**cfg, embedder=str(named_embedders / "embedders" / "contentvec")))
    assert Converter(path, ConvertConfig(**cfg, embedder="spin-v2")).embedder_name == "spin-v2"
    # RVC WebUI's models record no embedder: contentvec, or the one given
    plain = tiny_model(tmp_path / "plain.pth")
    assert Converter(plain, ConvertConfig(**cfg)).embedder_name == "contentvec"
    custom = applio_model(tmp_path / "c.pth", plain, embedder_model="custom")
    with pytest.raises(EmbedderError, match="trained with a custom embedder: give its folder"):
        Converter(custom, ConvertConfig(**cfg))


def test_embedder_choices():
    assert E.parse(None) is None and E.parse("hubert_base") == E.EmbedderChoice("contentvec")
    assert E.parse("SPIN-v2").name == "spin-v2"
    with pytest.raises(EmbedderError, match="unknown embedder 'nope'"):
        E.parse("nope")
    assert E.for_model("Korean-Hubert-Base", None).name == "korean-hubert-base"


def test_exported_card_carries_applios_keys(tmp_path):
    keys = card_fields(CardFacts("voice", 3, 90, "40k", "v2", True, 623.4, "spin"))
    for k in (
        "epoch",
        "step",
        "model_name",
        "creation_date",
        "embedder_model",
        "speakers_id",
        "vocoder",
        "dataset_length",
    ):
        assert k in keys
    assert keys["embedder_model"] == "spin" and keys["dataset_length"] == "00:10:23" and keys["vocoder"] == "HiFi-GAN"


def test_extraction_records_its_embedder(tiny_experiment, named_embedders):
    from rvc.steps import extract as X

    # extracted with a folder given by path, holding contentvec's registered files: recorded as contentvec
    exp = tiny_experiment()
    assert X.recorded_embedder(exp) == "contentvec"
    X.extract(
        exp, X.ExtractConfig(f0_method="pm", embedder=str(named_embedders / "embedders" / "spin-v2"), device="cpu")
    )
    assert X.recorded_embedder(exp) == "spin-v2"  # its files are the registry's spin-v2
    other = named_embedders.parent / "mine"
    shutil.copytree(named_embedders / "embedders" / "spin-v2", other)
    (other / "README").write_text("x")
    from safetensors.torch import load_file, save_file

    save_file({k: v * 1.01 for k, v in load_file(other / "model.safetensors").items()}, other / "model.safetensors")
    X.extract(exp, X.ExtractConfig(f0_method="pm", embedder=str(other), device="cpu"))
    assert X.recorded_embedder(exp) == "custom"
    X.extract(exp, X.ExtractConfig(f0_method="pm", embedder="spin-v2", device="cpu"))
    assert X.recorded_embedder(exp) == "spin-v2"
    from rvc.steps.train.card import model_card

    assert model_card(exp, 1, 10)["embedder_model"] == "spin-v2"


def test_an_applio_embedder_folder_loads(tmp_path):
    """Applio's embedders/<name>/: config.json and a pickle pytorch_model.bin of HubertModelWithFinalProj."""
    from transformers import HubertConfig

    from rvc.content import hubert as H
    from tests.conftest import SMALL

    torch.manual_seed(3)
    folder = tmp_path / "embedders" / "spin-v2"
    net = H._build(HubertConfig(**SMALL))
    net.config.save_pretrained(folder)
    torch.save(net.state_dict(), folder / "pytorch_model.bin")  # a pickle of tensors, as Applio ships it
    emb = H.load_embedder(folder)
    for version, dim in (("v1", 256), ("v2", 768)):
        assert emb.features([tone(0.5, 16000)], version)[0].shape == (24, dim)
