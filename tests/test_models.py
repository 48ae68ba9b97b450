"""The synthesizer and discriminators against the reference's numbers, and every generator file layout."""

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rvc import models as M
from rvc.models import checkpoint as C
from rvc.models.modules import Flow

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "rvc_models"
CASES = ["v2_40k_f0", "v1_40k_f0", "v2_48k_nof0"]


def fill(state: dict, seed: int, scale: float = 0.05) -> dict:
    """The fixtures' fill recipe (fixtures/README.md)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k in sorted(state):
        r = torch.randn(state[k].shape, generator=g)
        if k.endswith((".gamma", ".weight_g")):
            out[k] = 1 + scale * r
        elif r.dim() <= 1:
            out[k] = scale * r
        else:
            out[k] = r / math.sqrt(math.prod(state[k].shape[1:]))
    return out


def case(name: str):
    cfg_json = json.loads((FIXTURES / name / "config.json").read_text())
    cfg = M.SynthesizerConfig.from_list(cfg_json["config"], cfg_json["version"], bool(cfg_json["f0"]))
    return cfg_json, cfg, np.load(FIXTURES / name / "io.npz")


def seeded_generator(name: str) -> M.Synthesizer:
    cfg_json, cfg, _ = case(name)
    g = M.Synthesizer(cfg)
    g.load_state_dict(fill(g.state_dict(), cfg_json["fill"]["seed_g"]), strict=True)
    return g.eval()


@contextlib.contextmanager
def no_noise():
    """The fixtures were made with every random draw of ``infer`` returning zeros."""
    saved = torch.randn_like, torch.rand_like, torch.randn, torch.rand
    torch.randn_like = torch.rand_like = lambda x, **k: torch.zeros_like(x)
    torch.randn = torch.rand = lambda *s, **k: torch.zeros(*s, dtype=k.get("dtype"), device=k.get("device"))
    try:
        yield
    finally:
        torch.randn_like, torch.rand_like, torch.randn, torch.rand = saved


def run_infer(g: M.Synthesizer, io) -> tuple:
    t = {k: torch.from_numpy(io[k]) for k in ("phone", "phone_lengths", "pitch", "pitchf", "sid")}
    args = (t["pitch"], t["pitchf"], t["sid"]) if g.cfg.f0 else (t["sid"],)
    with no_noise():
        return g.infer(t["phone"], t["phone_lengths"], *args)


@pytest.mark.parametrize("name", CASES)
def test_state_dict_layouts(name):
    cfg_json, cfg, _ = case(name)
    for kind, model in (("g", M.Synthesizer(cfg)), ("d", M.MultiPeriodDiscriminator(cfg_json["version"]))):
        rows = [line.split("\t") for line in (FIXTURES / name / f"keys_{kind}.tsv").read_text().splitlines() if line]
        own = model.state_dict()
        assert {r[0] for r in rows} == set(own)
        for key, shape in rows:
            assert "x".join(map(str, own[key].shape)) == shape, key


@pytest.mark.parametrize("name", CASES)
def test_generator_matches_reference(name):
    _, _, io = case(name)
    audio, _, (z, _, m_p, logs_p) = run_infer(seeded_generator(name), io)
    assert np.abs(m_p.numpy() - io["m_p"]).max() < 1e-3
    assert np.abs(logs_p.numpy() - io["logs_p"]).max() < 1e-3
    assert np.abs(z.numpy() - io["z"]).max() < 1e-3
    assert audio.shape == io["audio"].shape and np.abs(audio.numpy() - io["audio"]).max() < 5e-4


@pytest.mark.parametrize("name", CASES)
def test_discriminator_matches_reference(name):
    cfg_json, _, io = case(name)
    d = M.MultiPeriodDiscriminator(cfg_json["version"])
    d.load_state_dict(fill(d.state_dict(), cfg_json["fill"]["seed_d"]), strict=True)
    with torch.no_grad():
        rs, gs, fr, fg = d(torch.from_numpy(io["d_y"]), torch.from_numpy(io["d_y_hat"]))
    assert len(rs) == (9 if cfg_json["version"] == "v2" else 7)
    for i, (r, g) in enumerate(zip(rs, gs, strict=True)):
        assert np.abs(r.numpy().ravel() - io[f"d_real_{i}"].ravel()).max() < 5e-4
        assert np.abs(g.numpy().ravel() - io[f"d_fake_{i}"].ravel()).max() < 5e-4
    assert all(len(f) == len(fr[0]) or len(f) == 6 for f in fr)  # feature maps for feature matching


@pytest.mark.parametrize("name", CASES)
def test_load_generator_every_layout(name, tmp_path):
    cfg_json, cfg, io = case(name)
    g = seeded_generator(name)
    expected = run_infer(g, io)[0]
    state = g.state_dict()
    # a training checkpoint G_*.pth and a pretrained file (same layout, no config): config from configs/
    C.save_atomic({"model": state, "iteration": 3, "optimizer": {}, "learning_rate": 1e-4}, tmp_path / "G_120.pth")
    for path in (tmp_path / "G_120.pth",):
        out = run_infer(M.load_generator(path), io)[0]
        assert np.abs(out.numpy() - expected.numpy()).max() < 1e-5
    # a small model: fp16 weights, no enc_q, 18-entry config
    small = C.small_model(state, cfg, cfg_json["sr"], "3epoch")
    assert not any("enc_q" in k for k in small["weight"]) and all(
        v.dtype == torch.float16 for v in small["weight"].values()
    )
    assert (
        small["config"] == cfg_json["config"]
        and small["f0"] == cfg_json["f0"]
        and small["version"] == cfg_json["version"]
    )
    C.save_atomic(small, tmp_path / "voice.pth")
    converted = run_infer(M.load_generator(tmp_path / "voice.pth"), io)[0].numpy()
    assert converted.shape == io["audio"].shape
    assert np.corrcoef(converted.ravel(), io["audio"].ravel())[0, 1] > 0.999  # fp16 weights: close, not equal
    assert np.abs(converted - io["audio"]).max() < 0.02


def test_mismatched_files_are_refused(tmp_path):
    g = seeded_generator("v2_40k_f0")
    nono = M.Synthesizer(case("v2_48k_nof0")[1])
    with pytest.raises(M.ModelFileError, match="does not fit this model: .*shape mismatches"):
        M.check_state(nono, g.state_dict(), "f0G40k.pth")
    with pytest.raises(M.ModelFileError, match="11 unexpected keys"):
        M.check_state(
            M.Synthesizer(case("v2_40k_f0")[1].__class__(**{**case("v2_40k_f0")[1].__dict__, "f0": False})),
            g.state_dict(),
            "x",
        )
    (tmp_path / "junk.pth").write_bytes(b"not a model")
    with pytest.raises(M.ModelFileError, match="junk.pth is not a readable model file"):
        M.load_generator(tmp_path / "junk.pth")
    torch.save({"model": {"x": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(M.ModelFileError, match="holds no RVC generator weights"):
        M.load_generator(tmp_path / "other.pth")


def test_a_model_file_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    torch.save({"weight": {"emb_g.weight": torch.zeros(1)}, "info": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(M.ModelFileError, match="not a readable model file"):
        M.load_generator(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("extra", [5, M.Decoder.WINDOW + 13])
def test_windowed_decoding_equals_one_pass(extra, monkeypatch):
    """At inference the decoder runs in windows with overlapping context, all of one length (oneDNN prepares its
    kernels once per length): the joined output is the one-pass output."""
    from rvc.core.config import load_model_config
    from tests.conftest import TINY_MODEL

    hps = load_model_config("40k", "v2")
    hps["model"].update(TINY_MODEL)
    cfg = M.SynthesizerConfig.from_hparams(hps, "v2", True)
    torch.manual_seed(0)
    dec = M.Synthesizer(cfg).eval().dec
    frames = M.Decoder.WINDOW + 2 * M.Decoder.OVERLAP + extra
    x, f0, g = torch.randn(1, cfg.inter_channels, frames), 150 + 50 * torch.rand(1, frames), torch.randn(1, 16, 1)
    run, lengths = dec._run, []
    monkeypatch.setattr(dec, "_run", lambda x, *a: lengths.append(x.shape[-1]) or run(x, *a))
    with torch.inference_mode():
        torch.manual_seed(1)
        windowed = dec(x, f0, g)
    assert set(lengths) == {M.Decoder.WINDOW + 2 * M.Decoder.OVERLAP} and len(lengths) == -(-frames // M.Decoder.WINDOW)
    torch.manual_seed(1)
    with torch.no_grad():
        whole = run(x, dec.m_source(f0, dec.upp), g)
    assert windowed.shape == whole.shape == (1, 1, frames * dec.upp)
    assert (windowed - whole).abs().max() < 1e-5


RATES = [("v1", "32k"), ("v1", "40k"), ("v1", "48k"), ("v2", "32k"), ("v2", "48k")]  # v2 40k is v1's layout


def _tiny(version: str, rate: str, f0: bool = True) -> M.Synthesizer:
    from rvc.core.config import load_model_config
    from tests.conftest import TINY_MODEL

    hps = load_model_config(rate, version)
    hps["model"].update(TINY_MODEL)
    torch.manual_seed(0)
    net = M.Synthesizer(M.SynthesizerConfig.from_hparams(hps, version, f0)).eval()
    with torch.no_grad():  # the couplings' last layers start at zero (the flow is then the identity): not here
        for p in net.flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def _reach(f, x: torch.Tensor, frame: int, per_frame: int) -> tuple[float, float]:
    """How far (in frames, left and right) a change of input frame ``frame`` moves ``f``'s output."""
    with torch.no_grad():
        y = f(x)
        x2 = x.clone()
        x2[..., frame] += 1.0
        changed = torch.nonzero((f(x2) - y).abs().amax(dim=(0, 1)) > 0).flatten()
    left = (frame * per_frame - int(changed.min())) / per_frame
    return left, (int(changed.max()) + 1 - (frame + 1) * per_frame) / per_frame


@pytest.mark.parametrize(("version", "rate"), RATES)
def test_decoder_and_flow_reach_no_further_than_their_stated_margins(version, rate):
    """Decoder.OVERLAP (the offline windows' context, live conversion's decoding margin) and Flow.REACH (the
    frames the flow runs beyond a decoded span) are at least the receptive fields, at every rate and version."""
    net = _tiny(version, rate)
    dec, g = net.dec, torch.randn(1, 16, 1)
    with torch.no_grad():
        source = dec.m_source(torch.full((1, 60), 150.0), dec.upp)
    left, right = _reach(lambda z: dec._run(z, source, g), torch.randn(1, 16, 60), 30, dec.upp)
    assert 5 < max(left, right) <= M.Decoder.OVERLAP, (left, right)
    mask = torch.ones(1, 1, 80)
    left, right = _reach(lambda z: net.flow(z, mask, g, reverse=True), torch.randn(1, 16, 80), 40, 1)
    assert 5 < max(left, right) <= Flow.REACH, (left, right)


def test_decoding_a_span_equals_the_whole_decoded_then_cut(monkeypatch):
    """``infer(head=, length=)`` runs the flow on the span and its reach only and the decoder on the span: past
    the decoder's own margin at each end (Decoder.OVERLAP, which live conversion decodes and drops) the audio is
    the one of decoding every frame and cutting (noise draws zeroed; the NSF phase carried in ``phase0``)."""
    monkeypatch.setattr(torch, "randn_like", lambda t, *a, **k: torch.zeros_like(t))
    net = _tiny("v2", "48k")
    frames, head, length = 150, 90, 40
    phone = torch.randn(1, frames, 768)
    f0 = 120 + 80 * torch.rand(1, frames)
    pitch = torch.randint(1, 255, (1, frames))
    args = (torch.tensor([frames]), pitch, f0, torch.tensor([0]))
    with torch.inference_mode():
        whole = net.infer(phone, *args)[0]
        phase = float(((f0[0, :head].double() / net.cfg.sampling_rate) % 1).sum() * net.dec.upp % 1)
        part = net.infer(phone, *args, head=head, length=length, phase0=phase)[0]
    upp, margin = net.dec.upp, M.Decoder.OVERLAP
    assert part.shape[-1] == length * upp
    inner = part[..., margin * upp : (length - margin) * upp]
    assert (inner - whole[..., (head + margin) * upp : (head + length - margin) * upp]).abs().max() < 1e-5


def _attention_by_definition(a: M.RelativeAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Relative attention written out: score(i, j) = q_i·k_j + q_i·K[j-i] and out_i = Σ_j p_ij (v_j + V[j-i]),
    with K, V the learned tables for |j - i| <= window and zero beyond."""
    b, c, t = x.shape
    h, w, d = a.heads, a.window, a.k
    q, k, v = (conv(x).view(b, h, d, t).transpose(2, 3) for conv in (a.conv_q, a.conv_k, a.conv_v))
    q = q / math.sqrt(d)
    dist = torch.arange(t)[None, :] - torch.arange(t)[:, None]  # j - i
    inside = dist.abs() <= w
    table_k = torch.where(inside[..., None], a.emb_rel_k[0][(dist + w).clamp(0, 2 * w)], 0.0)  # [t, t, d]
    table_v = torch.where(inside[..., None], a.emb_rel_v[0][(dist + w).clamp(0, 2 * w)], 0.0)
    scores = q @ k.transpose(-2, -1) + torch.einsum("bhid,ijd->bhij", q, table_k)
    p = torch.softmax(scores.masked_fill(mask == 0, -1e4), dim=-1)
    out = p @ v + torch.einsum("bhij,ijd->bhid", p, table_v)
    return a.conv_o(out.transpose(2, 3).reshape(b, c, t))


@pytest.mark.parametrize("t", [1, 3, 10, 11, 21, 22, 60])
def test_relative_attention_band_equals_the_definition(t):
    # the band computation (only the window's 2w+1 distances) against the full [t, t] tables, values and gradients,
    # for lengths shorter and longer than the window, with a padded second item
    torch.manual_seed(t)
    a = M.RelativeAttention(16, 2, window=10)
    x = torch.randn(2, 16, t, requires_grad=True)
    lengths = torch.tensor([t, max(1, t // 2)])
    m = M.sequence_mask(lengths, t).float()[:, None]
    mask = m.unsqueeze(2) * m.unsqueeze(-1)
    fast, slow = a(x, mask), _attention_by_definition(a, x, mask)
    assert torch.allclose(fast, slow, atol=1e-5)
    g_fast = torch.autograd.grad(fast.square().sum(), [x, a.emb_rel_k, a.emb_rel_v])
    g_slow = torch.autograd.grad(slow.square().sum(), [x, a.emb_rel_k, a.emb_rel_v])
    for gf, gs in zip(g_fast, g_slow, strict=True):
        assert torch.allclose(gf, gs, atol=1e-4, rtol=1e-4)
