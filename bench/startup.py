#!/usr/bin/env python3
"""Start-up benchmark: seconds from process start to the first page served, ours next to an empty Gradio app.

Each app is its own process: ours is `python app.py --port P --logs-dir <tmp>/logs` (cwd = the repository,
GRADIO_ANALYTICS_ENABLED=False, RVC_OFFLINE=1); the empty app is a one-Markdown `gr.Blocks` launched with
`demo.queue().launch(...)` from a temporary file, with the same environment. The clock runs from just before the
process is started until `GET http://127.0.0.1:P/` (polled every 50 ms) answers 200 with the page; then the process
is terminated (SIGTERM, then SIGKILL).

"cold": the first start of each app after `sync` and `echo 3 > /proc/sys/vm/drop_caches` (the file cache dropped
before each app's cold run); where that is not permitted, the first run of the series ("first"). "warm": median of
the `--runs` starts after it. Ours and the empty app alternate, and each measured run waits (up to 5 minutes) for
the 1-minute load average to fall under 0.6; the load at the start of each run is recorded.

Also measured: `import app` alone (in-process, median of 3) next to `import gradio` alone, and which heavy modules
are in `sys.modules` after `import app; app.build_demo(app.AppSettings(Path(tmp)))`.

    .venv/bin/python bench/startup.py [--runs 5]

Target: ours within 1.3x of the empty app (nothing heavy imported or loaded before it is needed).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ENV, ROOT, machine, today  # noqa: E402

TARGET = 1.3
LOAD_MAX = 0.6
LOAD_POLL_S = 5.0
LOAD_WAIT_MAX_S = 300.0
HTTP_POLL_S = 0.05
START_TIMEOUT_S = 180.0
HEAVY = ("torch", "torchaudio", "transformers", "fairseq", "faiss", "scipy", "numpy", "librosa", "sklearn")

EMPTY_APP = """\
import sys

import gradio as gr

with gr.Blocks() as demo:
    gr.Markdown("x")
demo.queue().launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""

HEAVY_PROBE = """\
import json, sys, tempfile
from pathlib import Path
heavy = json.loads(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    if sys.argv[2] == "ours":
        import app
        app.build_demo(app.AppSettings(Path(tmp) / "logs"))
    else:
        import gradio as gr
        with gr.Blocks() as demo:
            gr.Markdown("x")
print(json.dumps({m: m in sys.modules for m in heavy}))
"""

IMPORT_PROBE = """\
import sys, time
t0 = time.perf_counter()
__import__(sys.argv[1])
print(time.perf_counter() - t0)
"""


@dataclass
class Series:
    name: str
    first: float = 0.0
    first_load: float = 0.0
    warm: list[float] = field(default_factory=list)
    warm_loads: list[float] = field(default_factory=list)

    @property
    def warm_median(self) -> float:
        return statistics.median(self.warm)


def app_env() -> dict[str, str]:
    return {**ENV, "GRADIO_ANALYTICS_ENABLED": "False", "RVC_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_quiet() -> float:
    """Waits until the 1-minute load average is under LOAD_MAX (at most LOAD_WAIT_MAX_S); returns it."""
    deadline = time.monotonic() + LOAD_WAIT_MAX_S
    load = os.getloadavg()[0]
    while load >= LOAD_MAX and time.monotonic() < deadline:
        time.sleep(LOAD_POLL_S)
        load = os.getloadavg()[0]
    if load >= LOAD_MAX:
        print(f"  load still {load:.2f} after {LOAD_WAIT_MAX_S:.0f} s: measuring anyway", file=sys.stderr)
    return load


def drop_caches() -> bool:
    """Writes back dirty pages and drops the page cache, dentries and inodes; False where not permitted."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except (OSError, subprocess.CalledProcessError):
        return False


def page_served(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.status == 200 and b"<html" in r.read().lower()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server and any children it started, SIGKILL to what is left after 10 s."""
    try:
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        procs = []
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.wait()


def start_once(cmd: list[str], port: int, log: Path) -> float:
    """Seconds from starting ``cmd`` until the page on ``port`` is served; the process is stopped after."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=app_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            while not page_served(port):
                if proc.poll() is not None:
                    raise SystemExit(f"{' '.join(cmd[:3])}… exited ({proc.returncode}): {log.read_text()[-2000:]}")
                if time.perf_counter() - t0 > START_TIMEOUT_S:
                    raise SystemExit(f"{' '.join(cmd[:3])}… served nothing in {START_TIMEOUT_S:.0f} s")
                time.sleep(HTTP_POLL_S)
            return time.perf_counter() - t0
        finally:
            stop(proc)


def command(name: str, tmp: Path, port: int) -> list[str]:
    if name == "ours":
        return [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--logs-dir", str(tmp / "logs")]
    return [sys.executable, str(tmp / "empty_app.py"), str(port)]


def measure(name: str, tmp: Path, cold: bool) -> tuple[float, float]:
    """One start of ``name``; returns (seconds, load average when it began)."""
    load = wait_quiet()
    if cold:
        drop_caches()
    port = free_port()
    secs = start_once(command(name, tmp, port), port, tmp / f"{name}.log")
    print(f"  {name:5s} {'cold' if cold else 'warm'}: {secs:.2f} s (load {load:.2f})", file=sys.stderr)
    return secs, load


def probe(code: str, *args: str) -> str:
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=app_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"probe failed: {r.stderr[-2000:]}")
    return r.stdout.strip().splitlines()[-1]


def import_seconds(module: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        wait_quiet()
        times.append(float(probe(IMPORT_PROBE, module)))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="warm starts per app (default 5)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="rvc-bench-startup-") as t:
        tmp = Path(t)
        (tmp / "empty_app.py").write_text(EMPTY_APP)
        (tmp / "logs").mkdir()
        can_drop = drop_caches()
        series = {name: Series(name) for name in ("ours", "empty")}
        # cold (or first) start of each, the file cache dropped before each one
        for name in ("ours", "empty"):
            series[name].first, series[name].first_load = measure(name, tmp, cold=can_drop)
        # warm starts, alternating; which app goes first alternates too
        for i in range(args.runs):
            order = ("empty", "ours") if i % 2 else ("ours", "empty")
            for name in order:
                secs, load = measure(name, tmp, cold=False)
                series[name].warm.append(secs)
                series[name].warm_loads.append(load)

        imp_app = import_seconds("app")
        imp_gradio = import_seconds("gradio")
        heavy_ours = json.loads(probe(HEAVY_PROBE, json.dumps(HEAVY), "ours"))
        heavy_empty = json.loads(probe(HEAVY_PROBE, json.dumps(HEAVY), "empty"))

    ours, empty = series["ours"], series["empty"]
    label = "cold" if can_drop else "first"
    r_first = ours.first / empty.first
    r_warm = ours.warm_median / empty.warm_median
    ok = r_first <= TARGET and r_warm <= TARGET

    def loads(s: Series) -> str:
        return ", ".join(f"{x:.2f}" for x in [s.first_load, *s.warm_loads])

    def walls(s: Series) -> str:
        return ", ".join(f"{x:.2f}" for x in s.warm)

    print(f"machine: {machine()}")
    print(f"date: {today()}")
    if can_drop:
        print("cold: sync + echo 3 > /proc/sys/vm/drop_caches before each app's first start")
    else:
        print("cold: not possible (drop_caches not permitted); 'first' is the first start of the series")
    print(f"warm starts, ours: {walls(ours)} s; empty: {walls(empty)} s")
    print(f"load at start of each run (first, then warm), ours: {loads(ours)}; empty: {loads(empty)}")
    print(f"`import app` alone: {imp_app:.2f} s; `import gradio` alone: {imp_gradio:.2f} s (in-process, median of 3)")
    not_ours = [m for m, present in heavy_ours.items() if not present]
    in_ours = [m for m, present in heavy_ours.items() if present]
    in_empty = [m for m, present in heavy_empty.items() if present]
    print(f"after import app + build_demo, not imported: {', '.join(not_ours) or '-'}")
    print(f"  imported: {', '.join(in_ours) or '-'} (an empty Gradio Blocks imports: {', '.join(in_empty) or '-'})")
    print()
    print(f"| app | {label} | warm (median of {args.runs}) | ratio ours/empty ({label}, warm) | target ≤ {TARGET}× |")
    print("|---|---|---|---|---|")
    print(f"| empty Gradio Blocks | {empty.first:.2f} s | {empty.warm_median:.2f} s | 1.00×, 1.00× | |")
    verdict = "met" if ok else "**not met**"
    print(
        f"| **RVC Studio** (`app.py`) | {ours.first:.2f} s | {ours.warm_median:.2f} s "
        f"| {r_first:.2f}×, {r_warm:.2f}× | {verdict} |"
    )


if __name__ == "__main__":
    main()
