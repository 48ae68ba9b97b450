"""The RVC synthesizer (VITS with an NSF-HiFiGAN or HiFi-GAN decoder),
written for this project and number-compatible with the reference: the state dicts of ``G_*.pth``,
``f0G40k.pth``-style pretrained files, small models and ``D_*.pth`` load here with ``strict=True``.

Shapes: phone ``[B, T, 256|768]`` (100 frames/s), pitch ``[B, T]`` (coarse 1..255), pitchf ``[B, T]`` (Hz),
spectrogram ``[B, n_fft/2+1, T]``, audio ``[B, 1, T·hop]``.

Weight-normed layers keep the legacy ``weight_g``/``weight_v`` parameters: that is the on-disk format every RVC
tool reads and writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rvc.core.errors import ModelFileError
from rvc.models.decoder import Decoder
from rvc.models.modules import ContentEncoder, Flow, PosteriorEncoder

# --- the synthesizer -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthesizerConfig:
    """The 18 entries of a small model's ``config`` list, in order, plus the variant."""

    spec_channels: int
    segment_size: int  # frames
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    p_dropout: float
    resblock: str
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    upsample_rates: tuple[int, ...]
    upsample_initial_channel: int
    upsample_kernel_sizes: tuple[int, ...]
    spk_embed_dim: int
    gin_channels: int
    sampling_rate: int
    version: str = "v2"
    f0: bool = True

    @classmethod
    def from_list(cls, config: Sequence[Any], version: str, f0: bool) -> SynthesizerConfig:
        c = list(config)
        if len(c) != 18:
            raise ValueError(f"a model config has 18 entries, this one {len(c)}")
        return cls(
            int(c[0]), int(c[1]), int(c[2]), int(c[3]), int(c[4]), int(c[5]), int(c[6]), int(c[7]), float(c[8]),
            str(c[9]), tuple(int(k) for k in c[10]), tuple(tuple(int(d) for d in ds) for ds in c[11]),
            tuple(int(r) for r in c[12]), int(c[13]), tuple(int(k) for k in c[14]), int(c[15]), int(c[16]),
            int(c[17]), version, bool(f0),
        )  # fmt: skip

    @classmethod
    def from_hparams(cls, hps: dict[str, Any], version: str, f0: bool) -> SynthesizerConfig:
        """From a VITS JSON config (``train``, ``data``, ``model``), as training builds the model."""
        d, m = hps["data"], hps["model"]
        return cls.from_list(
            [
                d["filter_length"] // 2 + 1, hps["train"]["segment_size"] // d["hop_length"], m["inter_channels"],
                m["hidden_channels"], m["filter_channels"], m["n_heads"], m["n_layers"], m["kernel_size"],
                m["p_dropout"], m["resblock"], m["resblock_kernel_sizes"], m["resblock_dilation_sizes"],
                m["upsample_rates"], m["upsample_initial_channel"], m["upsample_kernel_sizes"], m["spk_embed_dim"],
                m["gin_channels"], d["sampling_rate"],
            ],
            version,
            f0,
        )  # fmt: skip

    def to_list(self) -> list[Any]:
        """The small model's ``config`` (segment size 32, as the reference writes it)."""
        return [
            self.spec_channels, 32, self.inter_channels, self.hidden_channels, self.filter_channels, self.n_heads,
            self.n_layers, self.kernel_size, self.p_dropout, self.resblock, list(self.resblock_kernel_sizes),
            [list(d) for d in self.resblock_dilation_sizes], list(self.upsample_rates), self.upsample_initial_channel,
            list(self.upsample_kernel_sizes), self.spk_embed_dim, self.gin_channels, self.sampling_rate,
        ]  # fmt: skip

    @property
    def hop(self) -> int:
        return math.prod(self.upsample_rates)


class Synthesizer(nn.Module):
    """The RVC generator (``SynthesizerTrnMs{256,768}NSFsid`` and ``..._nono`` in the reference)."""

    def __init__(self, cfg: SynthesizerConfig) -> None:
        super().__init__()
        if cfg.resblock != "1":
            raise ValueError(f"resblock type {cfg.resblock!r} is not used by RVC models")
        self.cfg = cfg
        self.meta: dict[str, Any] | None = None  # a small model's own keys (embedder_model, vocoder…) once loaded
        self.segment_size = cfg.segment_size
        dim = 256 if cfg.version == "v1" else 768
        self.enc_p = ContentEncoder(
            dim,
            cfg.inter_channels,
            cfg.hidden_channels,
            cfg.filter_channels,
            cfg.n_heads,
            cfg.n_layers,
            cfg.kernel_size,
            cfg.f0,
        )
        self.dec = Decoder(
            cfg.inter_channels, cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, cfg.upsample_rates,
            cfg.upsample_initial_channel, cfg.upsample_kernel_sizes, cfg.gin_channels,
            sample_rate=cfg.sampling_rate if cfg.f0 else None,
        )  # fmt: skip
        self.enc_q = PosteriorEncoder(cfg.spec_channels, cfg.inter_channels, cfg.hidden_channels, cfg.gin_channels)
        self.flow = Flow(cfg.inter_channels, cfg.hidden_channels, cfg.gin_channels)
        self.emb_g = nn.Embedding(cfg.spk_embed_dim, cfg.gin_channels)

    def forward(
        self, phone: torch.Tensor, phone_lengths: torch.Tensor, pitch: torch.Tensor | None, pitchf: torch.Tensor | None,
        spec: torch.Tensor, spec_lengths: torch.Tensor, sid: torch.Tensor,
    ) -> tuple[Any, ...]:  # fmt: skip
        """Training pass: ``(y_hat [B,1,segment·hop], ids_slice, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q))``."""
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = self.enc_p(phone, pitch, phone_lengths)
        z, m_q, logs_q, y_mask = self.enc_q(spec, spec_lengths, g)
        z_p = self.flow(z, y_mask, g)
        ids = random_starts(spec_lengths, self.segment_size)
        z_slice = slice_segments(z, ids, self.segment_size)
        f0_slice = slice_segments(pitchf[:, None], ids, self.segment_size)[:, 0] if pitchf is not None else None
        y_hat = self.dec(z_slice, f0_slice, g)
        return y_hat, ids, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q)

    @torch.no_grad()
    def infer(
        self, phone: torch.Tensor, phone_lengths: torch.Tensor, *args: torch.Tensor, head: int = 0,
        length: int | None = None, phase0: float = 0.0,
    ) -> tuple[Any, ...]:  # fmt: skip
        """``infer(phone, phone_lengths, pitch, pitchf, sid)`` (``infer(phone, phone_lengths, sid)`` without pitch
        guidance) -> ``(audio [B,1,T·hop], x_mask, (z, z_p, m_p, logs_p))``.

        ``head``, ``length``: decode only frames ``head .. head + length`` (the content encoder sees every frame,
        the flow those within its reach of the span: live conversion decodes only its new audio; the latents
        returned are then those the flow saw); ``phase0``: the NSF sine's phase before it."""
        if self.cfg.f0:
            if len(args) != 3:
                raise TypeError("infer(phone, phone_lengths, pitch, pitchf, sid) for a model with pitch guidance")
            pitch, pitchf, sid = args
        else:
            if len(args) != 1:
                raise TypeError("infer(phone, phone_lengths, sid) for a model without pitch guidance")
            pitch, pitchf, (sid,) = None, None, args
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = self.enc_p(phone, pitch, phone_lengths)
        span = head or length is not None
        if span:  # the flow only where the span's frames depend on it (its reach either side): the same z there
            end = m_p.shape[-1] if length is None else head + length
            lo, hi = max(0, head - Flow.REACH), min(m_p.shape[-1], end + Flow.REACH)
            m_p, logs_p, x_mask = m_p[..., lo:hi], logs_p[..., lo:hi], x_mask[..., lo:hi]
        z_p = (m_p + torch.exp(logs_p) * torch.randn_like(m_p) * 0.66666) * x_mask
        z = self.flow(z_p, x_mask, g, reverse=True)
        if span:
            z, x_mask = z[..., head - lo : end - lo], x_mask[..., head - lo : end - lo]
            pitchf = pitchf[:, head:end] if pitchf is not None else None
        audio = self.dec(z * x_mask, pitchf, g, phase0)
        return audio, x_mask, (z, z_p, m_p, logs_p)


def random_starts(lengths: torch.Tensor, segment: int) -> torch.Tensor:
    """A random start frame per item so that ``segment`` frames fit in its length."""
    top = (lengths - segment + 1).clamp(min=1)
    return (torch.rand(lengths.shape, device=lengths.device) * top).long()


def slice_segments(x: torch.Tensor, starts: torch.Tensor, segment: int) -> torch.Tensor:
    """``x[b, :, starts[b] : starts[b] + segment]`` for each item (zero-padded past the end)."""
    x = F.pad(x, (0, segment))
    idx = starts[:, None] + torch.arange(segment, device=x.device)[None, :]
    return torch.gather(x, 2, idx[:, None, :].expand(-1, x.shape[1], -1))


# --- loading ----------------------------------------------------------------------------------------------------


def _config_from_dir(sample_rate: str, version: str) -> dict[str, Any]:
    from rvc.core.config import load_model_config

    return load_model_config(sample_rate, version)  # type: ignore[arg-type]


def load_generator(path_or_state: str | Path | dict[str, Any], config: SynthesizerConfig | None = None) -> Synthesizer:
    """A generator from any RVC generator file, ready for ``infer`` (eval mode, float32, CPU).

    Accepts a training checkpoint ``G_*.pth`` (``{"model": ...}``), a pretrained ``f0G40k.pth``-style file (same
    layout; config from ``configs/`` when the file carries none), or a small model ``.pth`` (``weight``,
    ``config``, ``sr``, ``f0``, ``version``). Loads with ``weights_only=True``: a model file cannot run code.

    Raises:
        ModelFileError: unreadable, not a generator, or its weights do not fit the config (names what differs).
    """
    source = str(path_or_state) if not isinstance(path_or_state, dict) else "state dict"
    if isinstance(path_or_state, dict):
        ckpt = path_or_state
    else:
        try:
            ckpt = torch.load(path_or_state, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ModelFileError(f"{source} is not a readable model file ({type(e).__name__}: {str(e)[:200]})") from e
    if not isinstance(ckpt, dict):
        raise ModelFileError(f"{source} is not an RVC model file")
    state = ckpt.get("weight") or ckpt.get("model")
    if not isinstance(state, dict) or "emb_g.weight" not in state:
        raise ModelFileError(f"{source} holds no RVC generator weights")
    check_vocoder(ckpt.get("vocoder"), source)
    state = {_legacy_name(k): v.float() for k, v in state.items() if isinstance(v, torch.Tensor)}
    f0 = "enc_p.emb_pitch.weight" in state
    version = "v1" if state["enc_p.emb_phone.weight"].shape[1] == 256 else "v2"
    if config is None:
        config = _infer_config(ckpt, state, version, f0, source)
    if ckpt.get("config") is not None and "weight" in ckpt:  # small model: the speaker count is the table's size
        config = SynthesizerConfig(**{**config.__dict__, "spk_embed_dim": int(state["emb_g.weight"].shape[0])})
    model = Synthesizer(config)
    if "weight" in ckpt:  # small models carry no posterior encoder
        state = {**{k: v for k, v in model.state_dict().items() if k.startswith("enc_q.")}, **state}
    check_state(model, state, source)
    model.load_state_dict(state, strict=True)
    if "weight" in ckpt:
        model.meta = {k: v for k, v in ckpt.items() if k not in ("weight", "config")}
    return model.eval()


# Applio's vocoders other than HiFi-GAN are other generator architectures (RefineGAN: a U-Net-like generator
# with its own upsampling and 24k/32k rates; MRF HiFi-GAN: another multi-receptive-field block layout). They are
# Applio-only, hidden in its UI and called failed experiments there (Applio #1004): refused by name, not guessed.
VOCODERS = ("HiFi-GAN",)


def check_vocoder(vocoder: Any, source: str) -> None:
    """Raises :class:`ModelFileError` naming the vocoder of a model whose decoder is not RVC's (NSF-)HiFi-GAN."""
    if vocoder is None or str(vocoder) in VOCODERS:
        return
    raise ModelFileError(
        f"{source} uses Applio's {vocoder} vocoder, a decoder architecture other than RVC's HiFi-GAN; RVC Studio "
        "converts HiFi-GAN models only (as RVC WebUI): convert this one in Applio"
    )


def _legacy_name(key: str) -> str:
    """Applio writes weight-normed tensors as ``.parametrizations.weight.original0/1`` (torch's new weight norm)
    in models of its own architecture; they are the legacy ``.weight_g``/``.weight_v`` under another name."""
    if ".parametrizations.weight.original" in key:
        return key.replace(".parametrizations.weight.original0", ".weight_g").replace(
            ".parametrizations.weight.original1", ".weight_v"
        )
    return key


def _infer_config(
    ckpt: dict[str, Any], state: dict[str, torch.Tensor], version: str, f0: bool, source: str
) -> SynthesizerConfig:
    if isinstance(ckpt.get("config"), list):
        return SynthesizerConfig.from_list(ckpt["config"], str(ckpt.get("version", version)), f0)
    if isinstance(ckpt.get("config"), dict):
        return SynthesizerConfig.from_hparams(ckpt["config"], version, f0)
    # a pretrained/training file without config: find the sample rate whose decoder shapes fit
    for sr in ("40k", "48k", "32k"):
        cfg = SynthesizerConfig.from_hparams(_config_from_dir(sr, version), version, f0)
        ups = [state.get(f"dec.ups.{i}.weight_v") for i in range(len(cfg.upsample_rates))]
        if (
            all(u is not None for u in ups)
            and [u.shape[2] for u in ups if u is not None] == list(cfg.upsample_kernel_sizes)
            and (f"dec.ups.{len(cfg.upsample_rates)}.weight_v" not in state)
            and state["enc_q.pre.weight"].shape[1] == cfg.spec_channels
        ):
            return cfg
    raise ModelFileError(f"{source} matches none of the 32k/40k/48k {version} configs: pass its config")


def check_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raises :class:`ModelFileError` listing missing, unexpected and mis-shaped keys (no silent partial load)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if own[k].shape != state[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (first: {shapes[0]})")
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[0]})")
        raise ModelFileError(f"{source} does not fit this model: {'; '.join(parts)}")
