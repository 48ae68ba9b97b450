#!/usr/bin/env python3
"""Step 2a benchmark: audio seconds processed per wall second, and peak RSS of the whole process tree.

Builds the deterministic 10-minute dataset with ../shared/bench/make_dataset.py (cached in bench/out/), then runs
`python -m rvc preprocess` as one process from start to end (imports, workers, writing included), several
times, sampling the summed RSS of the process and all its children every 50 ms.

    .venv/bin/python bench/preprocess.py [--runs 3] [--workers N] [--segment 3.0] [--minutes 10]

Reference WebUI on a 2-core machine (../shared/bench/baseline.md): 583.5 s in 8.2 s = 70.7x realtime, 0.76 GB
peak over its processes, 377.5 s of audio kept. Target: >= 210x realtime, <= 0.5 GB, more audio kept.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import dataset, machine, timed, today  # noqa: E402


def run_once(ds: Path, workers: int | None, segment: float) -> tuple[float, int, dict]:
    logs = Path(tempfile.mkdtemp(prefix="rvc-bench-"))
    try:
        timed([sys.executable, "-m", "rvc", "create", "bench", "--logs-dir", str(logs)])
        cmd = [sys.executable, "-m", "rvc", "preprocess", "bench", str(ds), "--logs-dir", str(logs), "--json"]
        cmd += ["--segment", str(segment)] + (["--workers", str(workers)] if workers else [])
        wall, peak, out = timed(cmd)
        return wall, peak, json.loads(out)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="default: all cores")
    ap.add_argument("--segment", type=float, default=3.7)
    ap.add_argument("--minutes", type=float, default=10)
    args = ap.parse_args()
    ds, seconds = dataset(args.minutes)
    runs = [run_once(ds, args.workers, args.segment) for _ in range(args.runs)]
    walls = [w for w, _, _ in runs]
    peak = max(p for _, p, _ in runs)
    totals = runs[0][2]["totals"]
    wall = statistics.median(walls)
    print(f"machine: {machine()}")
    print(f"date: {today()}")
    print(
        f"input: {seconds:.1f} s in {totals['files']} files; segment {args.segment} s; workers {runs[0][2]['settings']['workers']}"
    )
    print(f"wall per run: {', '.join(f'{w:.2f}' for w in walls)} s (median {wall:.2f} s)")
    print(f"throughput: {seconds / wall:.1f}x realtime (reference 70.7x; target >= 210x)")
    print(f"peak RSS, process tree: {peak / 1e9:.3f} GB (reference 0.76 GB; target <= 0.5 GB)")
    print(f"kept: {totals['kept_seconds']:.1f} s in {totals['pieces']} pieces (reference keeps 377.5 s)")


if __name__ == "__main__":
    main()
