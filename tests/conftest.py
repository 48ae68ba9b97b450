"""Shared fixtures: random-weight models in the real file formats (no hub is reachable here)."""

import pytest
import torch
from transformers import HubertConfig

from rvc import hubert as H
from tests.test_f0 import fill_rmvpe

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
