"""The compute device a step runs on, from the user's ``auto`` / ``cpu`` / ``cuda[:N]``."""

from __future__ import annotations

from rvc.core.cpu import cpu_bf16_feature
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


# bf16 pays on a CPU only for decoders at least this wide (the published RVC generators are 512): measured on an
# Intel Xeon with AMX, a 512-wide decoder runs 1.3x faster in bf16, a 32-wide one 1.1x, while oneDNN's kernels
# for each new input length take about 4x longer to prepare in bf16 (2.2 s against 0.5 s for a 32-wide decoder)
BF16_MIN_WIDTH = 256


def pick_precision(requested: str, device: str, width: int = BF16_MIN_WIDTH) -> tuple[str, str]:
    """``(fp32 | bf16, why)`` for a conversion with a decoder ``width`` channels wide (``upsample_initial_channel``):
    ``auto`` is bf16 on a CPU with AMX or AVX-512 BF16 (there the generator runs faster, within 0.2 dB MCD of
    fp32: bench/RESULTS.md) for a decoder of the published width, fp32 elsewhere (without them bf16 is emulated and
    slower; a narrow decoder gains little and prepares its kernels slower; GPUs are not measured yet); an explicit
    choice is kept as it is."""
    if requested != "auto":
        return requested, "as chosen"
    if not device.startswith("cpu"):
        return "fp32", "auto: fp32 on a GPU"
    feature = cpu_bf16_feature()
    if not feature:
        return "fp32", "auto: this CPU has no AVX-512 BF16 or AMX"
    if width < BF16_MIN_WIDTH:
        return "fp32", f"auto: this CPU has {feature}, but a {width}-channel decoder gains little in bf16"
    return "bf16", f"auto: this CPU has {feature}"
