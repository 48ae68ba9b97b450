"""Shared by the benchmarks: the deterministic dataset, machine description, and timing a command with the
peak RSS of its whole process tree."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RVC_SHARED_DIR", ROOT.parent / "shared"))
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def dataset(minutes: float) -> tuple[Path, float]:
    """``make_dataset.py --minutes M --seed 1``, cached in bench/out/; returns (folder, top-level seconds)."""
    out = ROOT / "bench" / "out"
    ds = out / f"ds{minutes:g}"
    manifest = out / f"ds{minutes:g}.manifest.json"
    if not manifest.is_file():
        out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(SHARED / "bench" / "make_dataset.py"), "--out", str(ds), "--minutes", str(minutes)]
        subprocess.run([*cmd, "--seed", "1"], check=True)
    return ds, json.loads(manifest.read_text())["top_level_seconds"]


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


SAMPLE_S = 0.05  # the memory sampler's period: at 5 ms it took a fifth of a core of a 2-core machine


def timed(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Runs ``cmd``; returns (wall seconds, peak RSS of its process tree in bytes, stdout). The tree's RSS is
    sampled every 50 ms while a thread drains its output (a full pipe would stall the command)."""
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or ENV, cwd=cwd)
    streams: dict[str, bytes] = {}
    reader = threading.Thread(target=lambda: streams.update(zip(("out", "err"), proc.communicate(), strict=True)))
    reader.start()
    peak = 0
    while reader.is_alive():
        try:
            peak = max(peak, tree_rss(proc))
        except psutil.Error:
            pass
        reader.join(SAMPLE_S)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:5])}… failed ({proc.returncode}): {streams['err'].decode()[-2000:]}")
    return wall, peak, streams["out"].decode()


FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX-BF16"}


def cpu_flags() -> list[str]:
    """Which of AVX2, AVX-512, AVX-512 BF16 and AMX the CPU has (they change the picture more than the clock)."""
    try:
        line = next(x for x in open("/proc/cpuinfo") if x.startswith("flags"))
    except (OSError, StopIteration):
        return []
    have = set(line.split(":", 1)[1].split())
    return [name for flag, name in FLAGS.items() if flag in have]


def machine() -> str:
    cpu = platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gib = psutil.virtual_memory().total / 2**30
    flags = ", ".join(cpu_flags()) or "no AVX2"
    return f"{os.cpu_count()} cores ({cpu}; {flags}), {gib:.0f} GiB, Python {platform.python_version()}"


def today() -> str:
    return f"{datetime.now(timezone.utc):%Y-%m-%d}"
