"""The training step's shortcuts keep the reference's numbers: real and generated audio through the discriminator
as one batch, the discriminator's unused gradients left out of the generator's backward, the fused AdamW; checked
against the step written plainly in the reference's order (two discriminator passes, every gradient, the
for-loop AdamW)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from rvc.core.config import load_model_config
from rvc.models.synthesizer import SynthesizerConfig, slice_segments
from rvc.steps.train import step as S
from rvc.steps.train.config import TrainConfig
from rvc.steps.train.data import spec_to_mel, wav_to_mel
from rvc.steps.train.losses import discriminator_loss, feature_loss, generator_loss, kl_loss
from tests.conftest import TINY_MODEL


def _state() -> S.State:
    hps = load_model_config("40k", "v2")
    hps["model"].update(TINY_MODEL)
    hps["train"]["segment_size"] = 4000
    cfg = SynthesizerConfig.from_hparams(hps, "v2", True)
    torch.manual_seed(0)
    return S.new_state(hps, cfg, TrainConfig(discriminator_scale=0.25), torch.device("cpu"))


def _batch(hps: dict, b: int = 2, frames: int = 30) -> tuple[torch.Tensor, ...]:
    hop, n_fft = hps["data"]["hop_length"], hps["data"]["filter_length"]
    g = torch.Generator().manual_seed(1)
    lens = torch.tensor([frames, frames - 4])
    return (
        torch.randn(b, frames, 768, generator=g), lens, torch.randint(1, 255, (b, frames), generator=g),
        100 + 200 * torch.rand(b, frames, generator=g), torch.rand(b, n_fft // 2 + 1, frames, generator=g), lens,
        torch.randn(b, 1, frames * hop, generator=g) * 0.1, lens * hop, torch.zeros(b, dtype=torch.long),
    )  # fmt: skip


def _plain_step(s: S.State, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """The reference's order of work, nothing left out."""
    d, t = s.hps["data"], s.hps["train"]
    phone, phone_len, pitch, pitchf, spec, spec_len, wav, _, sid = batch
    y_hat, ids, _, z_mask, (_, z_p, m_p, logs_p, _, logs_q) = s.net_g(
        phone, phone_len, pitch, pitchf, spec, spec_len, sid
    )
    hop, seg = d["hop_length"], t["segment_size"]
    y = slice_segments(wav, ids * hop, seg)
    subs = list(s.net_d.discriminators)
    r, g = [m(y)[0] for m in subs], [m(y_hat.detach())[0] for m in subs]
    loss_d = discriminator_loss(r, g)
    s.optim_d.zero_grad()
    loss_d.backward()
    s.optim_d.step()
    real, fake = [m(y) for m in subs], [m(y_hat) for m in subs]
    y_mel = spec_to_mel(slice_segments(spec, ids, seg // hop), d)
    loss_mel = F.l1_loss(y_mel, wav_to_mel(y_hat.squeeze(1), d)) * t["c_mel"]
    loss_kl = kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * t["c_kl"]
    loss_fm = feature_loss([f for _, f in real], [f for _, f in fake])
    loss_g = generator_loss([lg for lg, _ in fake]) + loss_fm + loss_mel + loss_kl
    s.optim_g.zero_grad()
    loss_g.backward()
    s.optim_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "loss_mel": loss_mel.item()}


def test_the_fast_step_equals_the_plain_one():
    fast, plain = _state(), _state()
    opt = {k: fast.optim_g.defaults[k] for k in ("lr", "betas", "eps", "weight_decay")} | {"foreach": False}
    plain.optim_g, plain.optim_d = (
        torch.optim.AdamW(plain.net_g.parameters(), **opt),
        torch.optim.AdamW(plain.net_d.parameters(), **opt),
    )
    assert fast.optim_g.defaults["fused"] and fast.optim_d.defaults["fused"]
    batch = _batch(fast.hps)
    before = {id(net): [p.detach().clone() for p in net.parameters()] for net in (fast.net_g, fast.net_d)}
    for _ in range(2):  # the second step runs with the first one's Adam state
        torch.manual_seed(5)
        got = S.train_step(fast, batch)
        torch.manual_seed(5)
        want = _plain_step(plain, batch)
        for k, v in want.items():
            assert abs(got[k] - v) <= 1e-5 * max(1.0, abs(v)), (k, got[k], v)
    for a, b in ((fast.net_g, plain.net_g), (fast.net_d, plain.net_d)):
        for (n, p), q, p0 in zip(a.named_parameters(), b.parameters(), before[id(a)], strict=True):
            # the two updates agree within 1 % of their size; the attention's key bias is left out: its gradient is
            # zero in exact arithmetic (a constant added to every key of a row leaves the softmax as it is), so
            # Adam turns rounding noise of either order of additions into full-size steps of either sign
            if not n.endswith("conv_k.bias"):
                assert (p - q).norm() <= 0.01 * (q - p0).norm() + 1e-7, n
