"""What the CPU can do fast, read without torch (the page asks before any model is loaded)."""

from __future__ import annotations

BF16_FLAGS = {"amx_bf16": "AMX", "avx512_bf16": "AVX-512 BF16"}  # /proc/cpuinfo flag -> its name


def cpu_bf16_feature() -> str | None:
    """The CPU feature that makes bf16 matrix products fast here (AMX, else AVX-512 BF16), or None: without one
    PyTorch emulates bf16 and it is slower than fp32. Read from /proc/cpuinfo (Linux); None elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next((x for x in f if x.startswith("flags")), "")
    except OSError:
        return None
    have = set(line.partition(":")[2].split())
    return next((name for flag, name in BF16_FLAGS.items() if flag in have), None)
