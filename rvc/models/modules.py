"""The layers the synthesizer is built from: weight norm, relative-attention transformer, WaveNet, flows.

Weight-normed layers keep the legacy ``weight_g``/``weight_v`` parameters: that is the on-disk format every RVC
tool reads and writes.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

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
        self.split = channels // 2  # not `half`: nn.Module.half() is a method
        self.pre = nn.Conv1d(self.split, hidden, 1)
        self.enc = WaveNet(hidden, 5, 1, 3, gin)
        self.post = nn.Conv1d(hidden, self.split, 1)
        nn.init.zeros_(self.post.weight)
        assert self.post.bias is not None
        nn.init.zeros_(self.post.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, reverse: bool) -> torch.Tensor:
        x0, x1 = x[:, : self.split], x[:, self.split :]
        shift = self.post(self.enc(self.pre(x0) * mask, mask, g)) * mask
        x1 = (x1 - shift) * mask if reverse else shift + x1 * mask
        return torch.cat([x0, x1], dim=1)


class Flip(nn.Module):
    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return torch.flip(x, [1])


class Flow(nn.Module):
    """4 couplings, each followed by a channel flip (``flows.0, 2, 4, 6`` hold the parameters)."""

    COUPLINGS = 4
    # frames either side that one output frame depends on, at most: each coupling's WaveNet has 3 layers of
    # kernel 5 (2 frames either side each); tests/test_models.py checks it
    REACH = COUPLINGS * 3 * 2

    def __init__(self, channels: int, hidden: int, gin: int, n: int = COUPLINGS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(n):
            layers += [Coupling(channels, hidden, gin), Flip()]
        self.flows = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        for f in reversed(self.flows) if reverse else self.flows:
            x = f(x, mask, g, reverse)
        return x
