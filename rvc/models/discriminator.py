"""The multi-period discriminators of RVC v1 and v2 (state dicts of ``D_*.pth``, ``f0D40k.pth``)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rvc.models.modules import LRELU, wn

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
        """Real and generated audio judged by every sub-discriminator: (real logits, fake logits, real feature
        maps, fake feature maps). Both go through each network as one batch: its weight norm is computed once
        and the convolutions run on twice the items (on 2 CPU cores a batch of 8 costs about a third less than
        two of 4); the numbers are those of two separate passes."""
        n = y.shape[0]
        rs, gs, frs, fgs = [], [], [], []
        for logits, fmap in self.judge(torch.cat([y, y_hat])):
            rs.append(logits[:n])
            gs.append(logits[n:])
            frs.append([f[:n] for f in fmap])
            fgs.append([f[n:] for f in fmap])
        return rs, gs, frs, fgs

    def judge(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        """One batch through every sub-discriminator: (flattened logits, feature maps) of each."""
        return [d(x) for d in self.discriminators]
