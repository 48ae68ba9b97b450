"""The losses of RVC training, as the reference weighs them: LSGAN adversarial (discriminator and generator),
feature matching ×2, the mel L1 (×``c_mel``, in the step) and the KL divergence of the posterior from the prior
(×``c_kl``). Every loss is computed in float32, whatever precision the networks ran in."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable

import torch


def _total(terms: Iterable[torch.Tensor]) -> torch.Tensor:
    """The sum of the terms, added in order (as Python's ``sum``, without its int start)."""
    return functools.reduce(operator.add, terms)


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    return _total(
        torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2) for r, g in zip(real, fake, strict=True)
    )


def generator_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    return _total(torch.mean((1 - g.float()) ** 2) for g in fake)


def feature_loss(fmap_r: list[list[torch.Tensor]], fmap_g: list[list[torch.Tensor]]) -> torch.Tensor:
    total = _total(
        torch.mean(torch.abs(r.float().detach() - g.float()))
        for dr, dg in zip(fmap_r, fmap_g, strict=True)
        for r, g in zip(dr, dg, strict=True)
    )
    return total * 2


def kl_loss(
    z_p: torch.Tensor, logs_q: torch.Tensor, m_p: torch.Tensor, logs_p: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    z_p, logs_q, m_p, logs_p, mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, mask))
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * mask) / torch.sum(mask)
