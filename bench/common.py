"""Shared by the benchmarks: the deterministic dataset, machine description, and timing a command with the
peak RSS of its whole process tree."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
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


def timed(cmd: list[str]) -> tuple[float, int, str]:
    """Runs ``cmd``; returns (wall seconds, peak RSS of its process tree in bytes, stdout)."""
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_rss(proc))
        except psutil.Error:
            pass
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:5])}… failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, peak, out.decode()


def machine() -> str:
    cpu = platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gib = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {gib:.0f} GiB, Python {platform.python_version()}"


def today() -> str:
    return f"{datetime.now(timezone.utc):%Y-%m-%d}"
