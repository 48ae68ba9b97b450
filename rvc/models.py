"""The RVC synthesizer (VITS with an NSF-HiFiGAN or HiFi-GAN decoder) and its multi-period discriminators,
written for this project and number-compatible with the reference: the state dicts of ``G_*.pth``,
``f0G40k.pth``-style pretrained files, small models and ``D_*.pth`` load here with ``strict=True``.

Shapes: phone ``[B, T, 256|768]`` (100 frames/s), pitch ``[B, T]`` (coarse 1..255), pitchf ``[B, T]`` (Hz),
spectrogram ``[B, n_fft/2+1, T]``, audio ``[B, 1, T·hop]``.

Weight-normed layers keep the legacy ``weight_g``/``weight_v`` parameters: that is the on-disk format every RVC
tool reads and writes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rvc.errors import ModelFileError  # noqa: F401  (re-exported: rvc.models.ModelFileError)

LRELU = 0.1


def wn(module: nn.Module) -> nn.Module:
    """Weight normalisation in the legacy form (``weight_g``/``weight_v``), the RVC file format."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(module)


def same_padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


def sequence_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


# --- the content encoder: a relative-position transformer ----------------------------------------------------


class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of ``[B, C, T]`` (parameters named ``gamma``/``beta`` as in VITS)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.transpose(1, -1), (x.shape[1],), self.gamma, self.beta, self.eps).transpose(1, -1)


class RelativeAttention(nn.Module):
    """Multi-head self-attention with learned relative-position keys and values within ±``window`` frames
    (one table shared by all heads)."""

    def __init__(self, channels: int, heads: int, window: int = 10) -> None:
        super().__init__()
        self.heads, self.window, self.k = heads, window, channels // heads
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        std = self.k**-0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window + 1, self.k) * std)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window + 1, self.k) * std)
        nn.init.xavier_uniform_(self.conv_q.weight)
        nn.init.xavier_uniform_(self.conv_k.weight)
        nn.init.xavier_uniform_(self.conv_v.weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        h, w = self.heads, self.window
        q, k, v = (conv(x).view(b, h, self.k, t).transpose(2, 3) for conv in (self.conv_q, self.conv_k, self.conv_v))
        q = q / math.sqrt(self.k)
        scores = q @ k.transpose(-2, -1)  # [b, h, t, t]
        # relative keys: only the 2w+1 distances in the window are computed, then placed on the band of the
        # [t, t] matrix by a skew (pad each row, flatten, re-cut one shorter: row i shifts right by i)
        rel = q @ self.emb_rel_k[0].T  # [b, h, t, 2w+1]: rel[i, c] belongs at column j = i + c - w
        skewed = F.pad(rel, (0, t)).flatten(2)[..., : t * (t + 2 * w)].view(b, h, t, t + 2 * w)
        scores = scores + skewed[..., w : w + t]
        p = torch.softmax(scores.masked_fill(mask == 0, -1e4), dim=-1)
        # relative values: the band of p, unskewed back to [t, 2w+1] (the inverse cut), times the value table
        band = F.pad(F.pad(p, (w, w)).flatten(2), (0, t)).view(b, h, t, t + 2 * w + 1)[..., : 2 * w + 1]
        out = p @ v + band @ self.emb_rel_v[0]
        return self.conv_o(out.transpose(2, 3).reshape(b, c, t))


class FeedForward(nn.Module):
    def __init__(self, channels: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.pad = ((kernel - 1) // 2, kernel // 2)
        self.conv_1 = nn.Conv1d(channels, hidden, kernel)
        self.conv_2 = nn.Conv1d(hidden, channels, kernel)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_1(F.pad(x * mask, self.pad)))
        return self.conv_2(F.pad(x * mask, self.pad)) * mask


class Transformer(nn.Module):
    def __init__(self, channels: int, filter_channels: int, heads: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.attn_layers = nn.ModuleList([RelativeAttention(channels, heads) for _ in range(layers)])
        self.norm_layers_1 = nn.ModuleList([ChannelNorm(channels) for _ in range(layers)])
        self.ffn_layers = nn.ModuleList([FeedForward(channels, filter_channels, kernel) for _ in range(layers)])
        self.norm_layers_2 = nn.ModuleList([ChannelNorm(channels) for _ in range(layers)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)  # [b, 1, t, t]
        x = x * mask
        for attn, n1, ffn, n2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = n1(x + attn(x, attn_mask))
            x = n2(x + ffn(x, mask))
        return x * mask


class ContentEncoder(nn.Module):
    """``enc_p``: content features (+ coarse pitch) -> prior mean and log-scale ``[B, 192, T]``."""

    def __init__(
        self, in_dim: int, out: int, hidden: int, filter_channels: int, heads: int, layers: int, kernel: int, f0: bool
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.emb_phone = nn.Linear(in_dim, hidden)
        self.emb_pitch = nn.Embedding(256, hidden) if f0 else None
        self.encoder = Transformer(hidden, filter_channels, heads, layers, kernel)
        self.proj = nn.Conv1d(hidden, out * 2, 1)

    def forward(
        self, phone: torch.Tensor, pitch: torch.Tensor | None, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.emb_phone(phone)
        if self.emb_pitch is not None and pitch is not None:
            x = x + self.emb_pitch(pitch)
        x = F.leaky_relu(x * math.sqrt(self.hidden), LRELU).transpose(1, -1)
        mask = sequence_mask(lengths, x.shape[2]).unsqueeze(1).to(x.dtype)
        x = self.encoder(x * mask, mask)
        m, logs = torch.split(self.proj(x) * mask, self.proj.out_channels // 2, dim=1)
        return m, logs, mask


# --- WaveNet, posterior encoder, flow ------------------------------------------------------------------------


class WaveNet(nn.Module):
    """Non-causal WaveNet with gated tanh·sigmoid units and a global condition (the speaker embedding)."""

    def __init__(self, hidden: int, kernel: int, dilation_rate: int, layers: int, gin: int) -> None:
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.cond_layer = wn(nn.Conv1d(gin, 2 * hidden * layers, 1))
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(layers):
            d = dilation_rate**i
            self.in_layers.append(
                wn(nn.Conv1d(hidden, 2 * hidden, kernel, dilation=d, padding=same_padding(kernel, d)))
            )
            self.res_skip_layers.append(wn(nn.Conv1d(hidden, 2 * hidden if i < layers - 1 else hidden, 1)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        cond = self.cond_layer(g)
        h = self.hidden
        for i in range(self.layers):
            a = self.in_layers[i](x) + cond[:, 2 * h * i : 2 * h * (i + 1)]
            acts = torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:])
            rs = self.res_skip_layers[i](acts)
            if i < self.layers - 1:
                x = (x + rs[:, :h]) * mask
                out = out + rs[:, h:]
            else:
                out = out + rs
        return out * mask


class PosteriorEncoder(nn.Module):
    """``enc_q``: linear spectrogram -> posterior sample z (training only)."""

    def __init__(self, spec_channels: int, out: int, hidden: int, gin: int) -> None:
        super().__init__()
        self.pre = nn.Conv1d(spec_channels, hidden, 1)
        self.enc = WaveNet(hidden, 5, 1, 16, gin)
        self.proj = nn.Conv1d(hidden, out * 2, 1)

    def forward(self, spec: torch.Tensor, lengths: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mask = sequence_mask(lengths, spec.shape[2]).unsqueeze(1).to(spec.dtype)
        x = self.enc(self.pre(spec) * mask, mask, g)
        m, logs = torch.split(self.proj(x) * mask, self.proj.out_channels // 2, dim=1)
        z = (m + torch.randn_like(m) * torch.exp(logs)) * mask
        return z, m, logs, mask


class Coupling(nn.Module):
    """Mean-only affine coupling: the second half of the channels is shifted by a WaveNet of the first half."""

    def __init__(self, channels: int, hidden: int, gin: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WaveNet(hidden, 5, 1, 3, gin)
        self.post = nn.Conv1d(hidden, self.half, 1)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, reverse: bool) -> torch.Tensor:
        x0, x1 = x[:, : self.half], x[:, self.half :]
        shift = self.post(self.enc(self.pre(x0) * mask, mask, g)) * mask
        x1 = (x1 - shift) * mask if reverse else shift + x1 * mask
        return torch.cat([x0, x1], dim=1)


class Flip(nn.Module):
    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return torch.flip(x, [1])


class Flow(nn.Module):
    """4 couplings, each followed by a channel flip (``flows.0, 2, 4, 6`` hold the parameters)."""

    def __init__(self, channels: int, hidden: int, gin: int, n: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(n):
            layers += [Coupling(channels, hidden, gin), Flip()]
        self.flows = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        for f in reversed(self.flows) if reverse else self.flows:
            x = f(x, mask, g, reverse)
        return x


# --- decoders -------------------------------------------------------------------------------------------------


class ResBlock(nn.Module):
    """HiFi-GAN residual block type 1: three pairs of (dilated, plain) convolutions with LeakyReLUs."""

    def __init__(self, channels: int, kernel: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            [wn(nn.Conv1d(channels, channels, kernel, dilation=d, padding=same_padding(kernel, d))) for d in dilations]
        )
        self.convs2 = nn.ModuleList(
            [wn(nn.Conv1d(channels, channels, kernel, padding=same_padding(kernel))) for _ in dilations]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU)), LRELU))
        return x


class HarmonicSource(nn.Module):
    """NSF source (``m_source``): a sine at F0 (noise where unvoiced), merged by Linear(1, 1) and tanh."""

    def __init__(self, sample_rate: int, sine_amp: float = 0.1, noise_std: float = 0.003) -> None:
        super().__init__()
        self.sample_rate, self.sine_amp, self.noise_std = sample_rate, sine_amp, noise_std
        self.l_linear = nn.Linear(1, 1)

    def forward(self, f0: torch.Tensor, upp: int) -> torch.Tensor:
        """f0 ``[B, T]`` Hz -> source ``[B, 1, T·upp]``."""
        with torch.no_grad():
            step = (f0.double() / self.sample_rate) % 1  # cycles per sample, per frame
            step = step.repeat_interleave(upp, dim=1)
            phase = torch.cumsum(step, dim=1) % 1  # float64: exact over long inputs
            sine = torch.sin(2 * math.pi * phase).to(f0.dtype) * self.sine_amp
            uv = (f0 > 0).to(f0.dtype).repeat_interleave(upp, dim=1)
            noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
            source = sine * uv + noise_amp * torch.randn_like(sine)
        merged = torch.tanh(self.l_linear(source.unsqueeze(-1).to(self.l_linear.weight.dtype)))
        return merged.transpose(1, 2)


class Decoder(nn.Module):
    """HiFi-GAN generator; with ``sample_rate`` set, the NSF variant whose every stage adds the harmonic source."""

    def __init__(
        self, in_channels: int, kernels: Sequence[int], dilations: Sequence[Sequence[int]], rates: Sequence[int],
        initial: int, up_kernels: Sequence[int], gin: int, sample_rate: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.n_kernels = len(kernels)
        self.upp = math.prod(rates)
        self.m_source = HarmonicSource(sample_rate) if sample_rate else None
        self.conv_pre = nn.Conv1d(in_channels, initial, 7, padding=3)
        self.cond = nn.Conv1d(gin, initial, 1)
        self.ups = nn.ModuleList()
        self.noise_convs = nn.ModuleList() if sample_rate else None
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(rates, up_kernels, strict=True)):
            c = initial // 2 ** (i + 1)
            up = nn.ConvTranspose1d(initial // 2**i, c, k, u, padding=(k - u) // 2)
            nn.init.normal_(up.weight, 0.0, 0.01)
            self.ups.append(wn(up))
            if self.noise_convs is not None:
                s = math.prod(rates[i + 1 :])
                self.noise_convs.append(
                    nn.Conv1d(1, c, 2 * s, s, padding=s // 2) if i + 1 < len(rates) else nn.Conv1d(1, c, 1)
                )
            for kr, d in zip(kernels, dilations, strict=True):
                self.resblocks.append(ResBlock(c, kr, d))
        self.conv_post = nn.Conv1d(c, 1, 7, padding=3, bias=False)

    # inference in windows of this many frames, each with OVERLAP frames of context on both sides (more than the
    # decoder's receptive field, so the joined windows equal one pass); small windows keep every tensor in the
    # CPU caches and out of fresh mmap'd pages (tensors over 32 MB are mapped and zero-filled on each allocation)
    WINDOW = 400
    OVERLAP = 24

    def forward(self, x: torch.Tensor, f0: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
        source = self.m_source(f0, self.upp) if self.m_source is not None else None
        frames = x.shape[-1]
        if self.training or torch.is_grad_enabled() or frames <= self.WINDOW + 2 * self.OVERLAP:
            return self._run(x, source, g)
        pieces = []
        for start in range(0, frames, self.WINDOW):
            lo, hi = max(0, start - self.OVERLAP), min(frames, start + self.WINDOW + self.OVERLAP)
            src = source[..., lo * self.upp : hi * self.upp] if source is not None else None
            y = self._run(x[..., lo:hi], src, g)
            keep = min(self.WINDOW, frames - start)
            pieces.append(y[..., (start - lo) * self.upp : (start - lo + keep) * self.upp])
        return torch.cat(pieces, dim=-1)

    def _run(self, x: torch.Tensor, source: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x) + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU))
            if source is not None:
                x = x + self.noise_convs[i](source)
            blocks = self.resblocks[i * self.n_kernels : (i + 1) * self.n_kernels]
            x = sum(block(x) for block in blocks) / self.n_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))  # the last LeakyReLU uses torch's default slope 0.01


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
    def infer(self, phone: torch.Tensor, phone_lengths: torch.Tensor, *args: torch.Tensor) -> tuple[Any, ...]:
        """``infer(phone, phone_lengths, pitch, pitchf, sid)`` (``infer(phone, phone_lengths, sid)`` without pitch
        guidance) -> ``(audio [B,1,T·hop], x_mask, (z, z_p, m_p, logs_p))``."""
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
        z_p = (m_p + torch.exp(logs_p) * torch.randn_like(m_p) * 0.66666) * x_mask
        z = self.flow(z_p, x_mask, g, reverse=True)
        audio = self.dec(z * x_mask, pitchf, g)
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


# --- discriminators ---------------------------------------------------------------------------------------------


def _conv_stack(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Convolutions with LeakyReLUs, then the output convolution: (flattened logits, every feature map)."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU)
        fmap.append(x)
    x = post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


class ScaleDiscriminator(nn.Module):
    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        c = [1] + [int(n * scale) for n in (16, 64, 256, 1024, 1024, 1024)]
        spec = [(15, 1, 1), (41, 4, 4), (41, 4, 16), (41, 4, 64), (41, 4, 256), (5, 1, 1)]  # kernel, stride, groups
        self.convs = nn.ModuleList(
            [wn(nn.Conv1d(c[i], c[i + 1], k, s, groups=g, padding=k // 2)) for i, (k, s, g) in enumerate(spec)]
        )
        self.conv_post = wn(nn.Conv1d(c[-1], 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return _conv_stack(self.convs, self.conv_post, x)


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, scale: float = 1.0) -> None:
        super().__init__()
        self.period = period
        chans = [1] + [int(n * scale) for n in (32, 128, 512, 1024, 1024)]
        self.convs = nn.ModuleList(
            [wn(nn.Conv2d(chans[i], chans[i + 1], (5, 1), (3 if i < 4 else 1, 1), padding=(2, 0))) for i in range(5)]
        )
        self.conv_post = wn(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), "reflect")
        return _conv_stack(self.convs, self.conv_post, x.view(b, c, -1, self.period))


PERIODS = {"v1": (2, 3, 5, 7, 11, 17), "v2": (2, 3, 5, 7, 11, 17, 23, 37)}


class MultiPeriodDiscriminator(nn.Module):
    """One scale discriminator and one period discriminator per period (v2 adds periods 23 and 37)."""

    def __init__(self, version: str = "v2", scale: float = 1.0) -> None:
        """``scale`` < 1 narrows every layer (quick experiments, tests); 1.0 is the reference's discriminator."""
        super().__init__()
        self.discriminators = nn.ModuleList(
            [ScaleDiscriminator(scale)] + [PeriodDiscriminator(p, scale) for p in PERIODS[version]]
        )

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor) -> tuple[list, list, list, list]:
        rs, gs, frs, fgs = [], [], [], []
        for d in self.discriminators:
            r, fr = d(y)
            g, fg = d(y_hat)
            rs.append(r)
            gs.append(g)
            frs.append(fr)
            fgs.append(fg)
        return rs, gs, frs, fgs


# --- loading ----------------------------------------------------------------------------------------------------


def _config_from_dir(sample_rate: str, version: str) -> dict[str, Any]:
    from rvc.config import load_model_config

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
    state = {k: v.float() for k, v in state.items() if isinstance(v, torch.Tensor)}
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
    return model.eval()


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
            and [u.shape[2] for u in ups] == list(cfg.upsample_kernel_sizes)
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
