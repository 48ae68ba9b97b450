"""HuBERT features: both file formats, the layer choice, batch equivalence, and no code run from a checkpoint."""

import argparse
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import HubertConfig, HubertModel

from rvc.content import hubert as H

TINY = dict(
    hidden_size=32,
    num_hidden_layers=12,
    intermediate_size=48,
    num_attention_heads=2,
    conv_dim=(24,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
    classifier_proj_size=8,
)


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    model = H._build(HubertConfig(**TINY)).eval()
    with torch.no_grad():  # non-trivial norms so that a wrong mapping shows
        for name, p in model.named_parameters():
            if name.endswith(("layer_norm.weight", "layer_norm.bias")):
                p.add_(0.1 * torch.randn_like(p))
    return model


def hf_folder(model, path: Path) -> Path:
    model.save_pretrained(path)
    return path


HF_TO_FAIRSEQ = [
    ("feature_extractor.conv_layers.0.layer_norm.", "feature_extractor.conv_layers.0.2."),
    ("feature_projection.projection.", "post_extract_proj."),
    ("feature_projection.layer_norm.", "layer_norm."),
    ("encoder.pos_conv_embed.conv.parametrizations.weight.original0", "encoder.pos_conv.0.weight_g"),
    ("encoder.pos_conv_embed.conv.parametrizations.weight.original1", "encoder.pos_conv.0.weight_v"),
    ("encoder.pos_conv_embed.conv.bias", "encoder.pos_conv.0.bias"),
    ("masked_spec_embed", "mask_emb"),
    (".attention.", ".self_attn."),
    (".feed_forward.intermediate_dense.", ".fc1."),
    (".feed_forward.output_dense.", ".fc2."),
]


def to_fairseq_name(k: str) -> str:
    if k.startswith("feature_extractor.conv_layers.") and k.endswith(".conv.weight"):
        return k.replace(".conv.weight", ".0.weight")
    if k.startswith("encoder.layers.") and ".layer_norm." in k:
        return k.replace(".layer_norm.", ".self_attn_layer_norm.")
    for a, b in HF_TO_FAIRSEQ:
        if a in k:
            return k.replace(a, b)
    return k


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/rvc-pwned",))


def fairseq_checkpoint(model, path: Path) -> Path:
    """A checkpoint laid out like fairseq's hubert_base.pt: real key names, pickled foreign objects beside them."""
    mods = {}
    for name in ("omegaconf", "omegaconf.dictconfig", "fairseq", "fairseq.data", "fairseq.data.dictionary"):
        mods[name] = types.ModuleType(name)
    DictConfig = type("DictConfig", (), {"__module__": "omegaconf.dictconfig"})
    Dictionary = type("Dictionary", (), {"__module__": "fairseq.data.dictionary"})
    mods["omegaconf.dictconfig"].DictConfig = DictConfig
    mods["fairseq.data.dictionary"].Dictionary = Dictionary
    sys.modules.update(mods)
    try:
        cfg = DictConfig()
        cfg.__dict__.update(
            {"_content": {"model": {"encoder_attention_heads": 2}, "task": {"normalize": False}}, "_flags": {}}
        )
        dictionary = Dictionary()
        dictionary.symbols = ["<s>", "<pad>", "</s>", "<unk>", *map(str, range(500))]
        state = {to_fairseq_name(k): v.clone() for k, v in model.state_dict().items()}
        state["label_embs_concat"] = torch.randn(504, TINY["classifier_proj_size"])
        ckpt = {
            "args": argparse.Namespace(arch="hubert", normalize=False, encoder_attention_heads=2),
            "cfg": cfg,
            "model": state,
            "task_state": {"dictionaries": [dictionary]},
            "optimizer_history": [
                {"criterion_name": "HubertCriterion", "optimizer_name": "Adam", "num_updates": 400000}
            ],
            "extra_state": {"evil": Evil()},
        }
        torch.save(ckpt, path)
    finally:
        for name in mods:
            del sys.modules[name]
    return path


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def waves(*seconds, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in seconds]


def test_fairseq_names_are_the_real_ones(model):
    names = {to_fairseq_name(k) for k in model.state_dict()}
    assert {
        "feature_extractor.conv_layers.0.0.weight",
        "feature_extractor.conv_layers.0.2.weight",
        "feature_extractor.conv_layers.6.0.weight",
        "post_extract_proj.weight",
        "layer_norm.bias",
        "encoder.pos_conv.0.weight_g",
        "encoder.pos_conv.0.weight_v",
        "encoder.layers.0.self_attn.k_proj.weight",
        "encoder.layers.11.self_attn_layer_norm.weight",
        "encoder.layers.3.fc1.weight",
        "encoder.layers.3.final_layer_norm.bias",
        "encoder.layer_norm.weight",
        "mask_emb",
        "final_proj.weight",
    } <= names
    assert H.fairseq_to_hf({n: torch.zeros(1) for n in names}).keys() == model.state_dict().keys()


def test_both_formats_load_to_identical_features(model, tmp_path):
    Path("/tmp/rvc-pwned").unlink(missing_ok=True)
    a = H.load_embedder(hf_folder(model, tmp_path / "hf"))
    b = H.load_embedder(fairseq_checkpoint(model, tmp_path / "hubert_base.pt"))
    assert not Path("/tmp/rvc-pwned").exists()  # the pickled os.system call was not run
    assert "omegaconf" not in sys.modules and "fairseq" not in sys.modules
    for version in ("v1", "v2"):
        fa, fb = a.features(waves(1.0), version)[0], b.features(waves(1.0), version)[0]
        assert fa.shape == fb.shape and np.abs(fa - fb).max() == 0


@pytest.mark.parametrize("version, layer", [("v1", 9), ("v2", 12)])
def test_layer_choice_matches_transformers(model, tmp_path, version, layer):
    emb = H.load_embedder(hf_folder(model, tmp_path / "hf"))
    x = waves(1.3)[0]
    ours = emb.features([x], version)[0]
    with torch.no_grad():
        ref = HubertModel.forward(model, torch.from_numpy(x)[None], output_hidden_states=True).hidden_states[layer]
        if version == "v1":
            ref = model.final_proj(ref)
    assert ours.shape == (H.frames_for(len(x)), 8 if version == "v1" else 32)
    assert ours.dtype == np.float32
    assert np.abs(ours - ref[0].numpy()).max() < 1e-5


def test_frame_count_formula():
    for n in (400, 401, 720, 16000, 59200):
        assert H.frames_for(n) == (n - 400) // 320 + 1


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_batch_equals_one_at_a_time(model, tmp_path, version):
    emb = H.load_embedder(hf_folder(model, tmp_path / "hf"))
    xs = waves(3.7, 0.8, 2.05, 0.03, seed=1)
    batch = emb.features(xs, version)
    for x, fb in zip(xs, batch, strict=True):
        single = emb.features([x], version)[0]
        assert single.shape == fb.shape
        assert np.abs(single - fb).max() <= 1e-4


def test_bad_embedder_files(model, tmp_path):
    with pytest.raises(H.EmbedderError, match="embedder not found"):
        H.load_embedder(tmp_path / "nope.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(H.EmbedderError, match="without config.json"):
        H.load_embedder(tmp_path / "empty")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(os.urandom(5000))
    with pytest.raises(H.EmbedderError, match="corrupt.pt is not a readable fairseq HuBERT checkpoint"):
        H.load_embedder(bad)
    torch.save({"model": {"x": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(H.EmbedderError, match="no HuBERT encoder layers"):
        H.load_embedder(tmp_path / "other.pt")
    # a folder without final_proj: v2 works, v1 says why not
    plain = HubertModel(HubertConfig(**TINY))
    plain.save_pretrained(tmp_path / "plain")
    emb = H.load_embedder(tmp_path / "plain")
    assert emb.features(waves(0.5), "v2")[0].shape[1] == 32
    with pytest.raises(H.EmbedderError, match="no final_proj"):
        emb.features(waves(0.5), "v1")
