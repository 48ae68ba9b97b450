"""The compute device a step runs on, from the user's ``auto`` / ``cpu`` / ``cuda[:N]``."""

from __future__ import annotations

from rvc.core.errors import RvcError


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when PyTorch sees a GPU, else ``cpu``; ``cuda`` without a GPU is a clear error."""
    import torch  # here, not at import: the web app starts without torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RvcError("device cuda was asked for, but PyTorch sees no CUDA GPU here: use --device cpu")
    elif device != "cpu":
        raise RvcError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device
