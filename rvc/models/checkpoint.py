"""Checkpoints and small models in the reference's layouts, written atomically.

- ``G_{step}.pth`` / ``D_{step}.pth``: ``{"model", "iteration" (the epoch), "optimizer", "learning_rate"}`` as
  RVC WebUI writes and reads them, plus our own keys (``step``, ``scheduler``, ``scaler``, ``config``,
  ``format``), which the reference ignores.
- Small model ``<name>.pth``: ``{"weight" (fp16, no enc_q), "config" (18 entries), "info", "sr", "f0", "version"}``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from rvc.core.files import atomic_write
from rvc.models.synthesizer import SynthesizerConfig

logger = logging.getLogger(__name__)

FORMAT = 1
LATEST_STEP = 2333333  # the reference's file name for "keep only the latest"


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename: a kill at any instant leaves the
    old file or the new one, never a torn one."""
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


def small_model(
    state: dict[str, torch.Tensor], cfg: SynthesizerConfig, sample_rate: str, info: str, **card: Any
) -> dict[str, Any]:
    """The reference's small inference model from a generator state dict; ``card`` adds top-level keys (epoch,
    step, dataset_seconds) that RVC WebUI and Applio ignore."""
    weight = {k: v.detach().half().cpu() for k, v in state.items() if "enc_q" not in k}
    return {
        "weight": weight,
        "config": cfg.to_list(),
        "info": info,
        "sr": sample_rate,
        "f0": int(cfg.f0),
        "version": cfg.version,
        **card,
    }


def step_of(path: Path) -> int:
    m = re.fullmatch(r"[GD]_(\d+)\.pth", Path(path).name)
    return int(m.group(1)) if m else -1


def checkpoint_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """``(G, D)`` checkpoint pairs in ``folder``, newest first (by the step in the name; the "latest" file
    ``G_2333333.pth`` ranks by its modification time among the others)."""
    pairs = []
    for g in Path(folder).glob("G_*.pth"):
        d = g.with_name("D_" + g.name[2:])
        if step_of(g) >= 0 and d.exists():
            pairs.append((g, d))

    def key(pair: tuple[Path, Path]) -> tuple[float, int]:
        return (pair[0].stat().st_mtime, step_of(pair[0]))

    return sorted(pairs, key=key, reverse=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint dict, loaded with ``weights_only=True``; raises ValueError naming the file if unusable."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is damaged or not a checkpoint ({type(e).__name__}: {str(e)[:160]})") from e
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise ValueError(f"{path} is not an RVC checkpoint (no 'model' state dict)")
    return ckpt
