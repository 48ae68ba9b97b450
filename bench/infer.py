#!/usr/bin/env python3
"""Conversion benchmark: real-time factor of converting 60 s of speech with a v2-40k model with pitch, per F0
method, and the index build time for one hour of features.

Conversion: a full-size v2-40k small model with pitch (seeded random weights in the reference's architecture:
the same compute as a trained one), a HuBERT-base folder and an rmvpe.pt with random weights (no hub here),
CREPE/FCPE with their real weights. Input: the 1-minute set of ../shared/bench/make_dataset.py, its top-level
files decoded to 16 kHz, joined and cut to exactly 60 s. Each method runs in its own process (so its peak RSS is
its own): imports and model loading are timed apart, then the conversion call alone (as the reference measured),
median of ``--runs`` (``--runs-slow`` for every method but pm). Index rate 0.75 with an index built from the
input's own features; ``pm-noindex`` converts without an index.

Index: 360,000 x 768 clustered random float32 rows (one hour of v2 features at 50 frames/s), as the .npy pieces
of an experiment's 3_feature768/, then `python -m rvc index` as one whole process (k-means to 10k centroids
above 200k rows); also the reference's 18,752 rows.

Before every measured run the script waits (at most --max-wait s, 10 min by default) for a 1-minute load average
under 0.6 with other processes using under 0.2 cores, and records the load and the cores others used during the run.

    .venv/bin/python bench/infer.py [--device cpu|cuda] [--methods pm,pm-noindex,harvest,...] [--parts convert,index]
        [--runs 3] [--runs-slow 1] [--max-wait 600] [--index-rows 18752,360000]

Reference WebUI on 2 cores (../shared/bench/baseline.md): 60 s with pm and index rate 0.75 in 174.2 s (0.34x
real time), harvest 171.8 s (0.35x); index of 18,752 x 768 features 8.0 s as a whole process (2.3 s the index
function alone). Target: >= 0.5x real time on 2 cores (1.5x the reference); on a GPU faster than 50x.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ENV, ROOT, dataset, machine, timed, today  # noqa: E402

OUT = ROOT / "bench" / "out"
LOGS = OUT / "logs"
SECONDS = 60.0
SR16 = 16000
METHODS = "pm,pm-noindex,harvest,dio,rmvpe,crepe-tiny,fcpe,crepe"
# reference conversion of 60 s on 2 cores (pm-noindex: its 10 s row, the only one without an index)
REFERENCE = {"pm": (174.2, 0.34), "harvest": (171.8, 0.35), "pm-noindex": (28.9 * 6, 0.35)}
LOAD_MAX = 0.6
HOUR_ROWS = 360_000
REF_ROWS = 18_752
PIECE_ROWS = 185  # 3.7 s pieces at 50 frames/s, as Step 2a cuts them


# --- waiting for a quiet machine --------------------------------------------------------------------------------


def wait_idle(limit_s: float) -> float:
    """Waits until the 1-minute load average is under LOAD_MAX and other processes used under 0.2 cores over the
    last 5 s (polls every 5 s, at most ``limit_s``; 0: no wait, as on a machine of its own); returns the load
    average."""
    if limit_s <= 0:
        return round(os.getloadavg()[0], 2)
    t0 = time.monotonic()
    while True:
        probe = Interference()
        probe.start()
        time.sleep(5)
        others, load = probe.stop(), os.getloadavg()[0]
        if (load < LOAD_MAX and others < 0.2) or time.monotonic() - t0 >= limit_s:
            return round(load, 2)


def busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (/proc/stat, every core)."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Interference:
    """Average cores that other processes kept busy between ``start`` and ``stop``."""

    def start(self) -> None:
        self.t, self.busy, self.own = time.perf_counter(), busy_seconds(), own_cpu_seconds()

    def stop(self) -> float:
        wall = time.perf_counter() - self.t
        others = (busy_seconds() - self.busy) - (own_cpu_seconds() - self.own)
        return round(max(0.0, others) / wall, 2)


# --- inputs and weights (cached in bench/out/) ------------------------------------------------------------------


def speech_60s() -> Path:
    """The top-level files of the 1-minute set at 16 kHz, joined and cut to exactly 60 s (a float32 .npy)."""
    path = OUT / "infer_input60.npy"
    if not path.is_file():
        from rvc.audio.io import decode_audio

        ds, _ = dataset(1)
        files = sorted(f for f in ds.iterdir() if f.is_file() and not f.name.startswith("."))
        x = np.concatenate([decode_audio(f, SR16).samples for f in files])
        n = int(SECONDS * SR16)
        while len(x) < n:  # never needed for this set (60.6 s), kept for other seeds
            x = np.concatenate([x, x])
        np.save(path, x[:n].astype(np.float32))
    return path


def model_files() -> tuple[Path, Path, Path]:
    """(small model .pth, HuBERT-base folder, rmvpe.pt), full size with seeded random weights."""
    import torch
    from extract import random_weights

    from rvc.core.config import load_model_config
    from rvc.models.checkpoint import save_atomic, small_model
    from rvc.models.synthesizer import Synthesizer, SynthesizerConfig

    hub, _ = random_weights(OUT)  # HubertConfig defaults, classifier_proj_size=256
    model, rm = OUT / "infer_v2_40k_f0.pth", OUT / "rmvpe_fill.pt"
    if not model.is_file():
        cfg = SynthesizerConfig.from_hparams(load_model_config("40k", "v2"), "v2", True)
        torch.manual_seed(0)
        state = Synthesizer(cfg).state_dict()
        save_atomic(small_model(state, cfg, "40k", "bench: seeded random weights"), model)
    if not rm.is_file():
        from tests.test_f0 import fill_rmvpe

        save_atomic(fill_rmvpe(), rm)
    return model, hub, rm


def input_index(x_path: Path, hub: Path) -> Path:
    """The index of the input's own features (random-weight HuBERT, layer 12), in experiment bench-infer."""
    from rvc.core.experiment import ExperimentConfig, create_or_open
    from rvc.steps.index import train_index

    exp, _ = create_or_open(ExperimentConfig("bench-infer", "40k", "v2", True), LOGS)
    found = sorted(exp.paths.root.glob("added_IVF*_bench-infer_v2.index"))
    if found:
        return found[0]
    from rvc.content.hubert import load_embedder

    feats = load_embedder(hub).features([np.load(x_path)], "v2")[0]
    folder = exp.paths.features("v2")
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "input.npy", feats)
    return train_index(exp).path


# --- one method, in its own process -----------------------------------------------------------------------------


def _timer(acc: dict[str, float], key: str, fn: Callable[..., Any], sync: Callable[[], None]) -> Callable[..., Any]:
    def wrapped(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        out = fn(*a, **kw)
        sync()
        acc[key] = acc.get(key, 0.0) + time.perf_counter() - t
        return out

    return wrapped


class _TimedIndex:
    def __init__(self, index: Any, acc: dict[str, float]) -> None:
        self.search = _timer(acc, "search", index.search, lambda: None)


def one(args: argparse.Namespace) -> dict[str, Any]:
    """Loads a converter for ``args.one`` and times ``args.runs`` conversions; the result as a dict."""
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    import faiss  # noqa: F401
    import scipy.signal  # noqa: F401
    import transformers  # noqa: F401

    if args.one.startswith("pm"):
        import parselmouth  # noqa: F401
    if args.one.startswith(("harvest", "dio")):
        import pyworld  # noqa: F401

    from rvc.inference.convert import ConvertConfig, Converter
    from rvc.pitch import rmvpe  # noqa: F401

    imports = time.perf_counter() - t0
    label = args.one
    method = label.removesuffix("-noindex")
    index = None if label.endswith("-noindex") else args.index
    cfg = ConvertConfig(
        f0_method=method,
        index=index,
        index_rate=0.75,
        device=args.device,
        embedder=args.hub,
        rmvpe=args.rmvpe,
        precision=args.precision,
    )
    stamps: list[tuple[str, float]] = [("start", time.perf_counter())]
    conv = Converter(args.model, cfg, on_progress=lambda m: stamps.append((m, time.perf_counter())))
    stamps.append(("end", time.perf_counter()))
    loading = {a[0]: round(b[1] - a[1], 2) for a, b in zip(stamps, stamps[1:], strict=False)}
    loading_total = stamps[-1][1] - stamps[0][1]
    cuda = str(conv.device).startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    acc: dict[str, float] = {}
    conv.embedder.features = _timer(acc, "hubert", conv.embedder.features, sync)
    if conv.index_vectors is not None:
        conv.index = _TimedIndex(conv.index, acc)
    net = conv.net
    for key, mod in (("enc_p", net.enc_p), ("flow", net.flow), ("dec", net.dec), ("nsf_source", net.dec.m_source)):
        mod.forward = _timer(acc, key, mod.forward, sync)
    x = np.load(args.input)
    t_warm = time.perf_counter()  # one untimed call on the first 3 s first, as rvc_infer_bench.py gives the reference
    conv.convert(x[: 3 * 16000])
    warmup = round(time.perf_counter() - t_warm, 2)
    runs = []
    for _ in range(args.runs):
        load = wait_idle(args.max_wait)
        acc.clear()
        probe = Interference()
        probe.start()
        t, cpu = time.perf_counter(), os.times()
        audio, sr, info = conv.convert(x)
        sync()
        wall, cpu_end = time.perf_counter() - t, os.times()
        runs.append(
            {
                "wall": round(wall, 2),
                "load_at_start": load,
                "others_cores": probe.stop(),
                "cpu_user": round(cpu_end.user - cpu.user, 1),
                "cpu_sys": round(cpu_end.system - cpu.system, 1),
                **{k: float(v) for k, v in info["timings"].items()},
                **{k: round(v, 2) for k, v in acc.items()},
                "chunks": info["chunks"],
                "out_seconds": round(len(audio) / sr, 3),
                "finite": bool(np.isfinite(audio).all()),
            }
        )
        print(f"{label}: run {len(runs)} {wall:.1f} s (load {load})", file=sys.stderr, flush=True)
    return {
        "label": label,
        "warmup_3s_call_s": warmup,
        "device": str(conv.device),
        "precision": conv.precision_note,
        "threads": torch.get_num_threads(),
        "imports": round(imports, 2),
        "loading": loading,
        "loading_total": round(loading_total, 2),
        "runs": runs,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "gpu_peak": torch.cuda.max_memory_allocated() if cuda else 0,
    }


# --- the parent: prepare, run each method, print tables ----------------------------------------------------------


def median_run(res: dict[str, Any]) -> dict[str, Any]:
    runs = sorted(res["runs"], key=lambda r: r["wall"])
    return runs[(len(runs) - 1) // 2]


def convert_part(args: argparse.Namespace) -> list[dict[str, Any]]:
    x_path = speech_60s()
    model, hub, rm = model_files()
    index = input_index(x_path, hub)
    print(
        f"model {model.name} ({model.stat().st_size / 1e6:.1f} MB), embedder {hub}, rmvpe {rm.name}, index {index.name}"
    )
    results = []
    for label in [m for m in args.methods.split(",") if m]:
        runs = args.runs if label == "pm" else args.runs_slow
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", label, "--runs", str(runs)]
        cmd += [
            "--device",
            args.device,
            "--precision",
            args.precision,
            "--input",
            str(x_path),
            "--model",
            str(model),
            "--hub",
            str(hub),
        ]
        cmd += ["--rmvpe", str(rm), "--index", str(index), "--max-wait", str(args.max_wait)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, env={**ENV, "RVC_OFFLINE": "1"}, check=False)
        if proc.returncode != 0:
            results.append({"label": label, "error": f"exit {proc.returncode} after {time.perf_counter() - t:.0f} s"})
            print(f"{label}: not measured (exit {proc.returncode})", flush=True)
            continue
        res = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        results.append(res)
        print(json.dumps(res), flush=True)
    return results


def print_convert(results: list[dict[str, Any]]) -> None:
    print(
        "\n| method | index | runs | wall s (median) | real time | pitch s | convert s | HuBERT+search s | "
        "generator s | CPU user+sys s | peak RSS | load at start | others' cores | reference | vs reference |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for res in results:
        label = res["label"]
        method = label.removesuffix("-noindex")
        if "error" in res:
            print(f"| {method} | | | not measured ({res['error']}) ||||||||||||")
            continue
        r = median_run(res)
        rtf = SECONDS / r["wall"]
        ref = REFERENCE.get(label)
        ref_s = f"{ref[0]:.1f} s, {ref[1]:.2f}×" if ref else "—"
        vs = f"{rtf / ref[1]:.2f}×" if ref else "—"
        walls = ", ".join(f"{x['wall']:.1f}" for x in res["runs"])
        loads = ", ".join(f"{x['load_at_start']:.2f}" for x in res["runs"])
        others = ", ".join(f"{x['others_cores']:.2f}" for x in res["runs"])
        hub = r.get("hubert", 0.0) + r.get("search", 0.0)
        print(
            f"| {method} | {'none' if label.endswith('-noindex') else '0.75'} | {len(res['runs'])} ({walls}) | "
            f"{r['wall']:.1f} | {rtf:.2f}× | {r.get('pitch', 0):.1f} | {r.get('convert', 0):.1f} | {hub:.1f} | "
            f"{r.get('dec', 0) + r.get('flow', 0) + r.get('enc_p', 0):.1f} | {r['cpu_user']:.0f}+{r['cpu_sys']:.0f} | "
            f"{res['peak_rss'] / 1e9:.2f} GB | "
            f"{loads} | {others} | {ref_s} | {vs} |"
        )
    print("\nGenerator split (median run, s): enc_p / flow / dec (of which the NSF source); one-time costs (s)")
    for res in results:
        if "error" in res:
            continue
        r = median_run(res)
        ld = ", ".join(f"{k}: {v}" for k, v in res["loading"].items())
        print(
            f"  {res['label']:12} enc_p {r.get('enc_p', 0):.2f}  flow {r.get('flow', 0):.2f}  dec {r.get('dec', 0):.2f} "
            f"(source {r.get('nsf_source', 0):.2f})  | imports {res['imports']:.2f}, loading {res['loading_total']:.2f} "
            f"({ld}); {res['device']}, {res['threads']} threads, chunks {r['chunks']}, output {r['out_seconds']} s, "
            f"finite {r['finite']}" + (f", GPU peak {res['gpu_peak'] / 1e9:.2f} GB" if res["gpu_peak"] else "")
        )


def clustered_features(folder: Path, rows: int, seed: int) -> None:
    """``rows`` x 768 float32 around 2,000 gaussian centres, as .npy pieces of PIECE_ROWS rows (cached)."""
    marker = folder / f".bench-{rows}-{seed}"
    if marker.is_file():
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, 768), dtype=np.float32)
    for i, start in enumerate(range(0, rows, PIECE_ROWS)):
        n = min(PIECE_ROWS, rows - start)
        x = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, 768), dtype=np.float32)
        np.save(folder / f"piece_{i:05d}.npy", x)
    marker.touch()


def index_part(sizes: list[int], max_wait: float, timeout: int) -> list[dict[str, Any]]:
    from rvc.core.experiment import ExperimentConfig, create_or_open

    results = []
    for rows in sizes:
        name = "bench-index" if rows == HOUR_ROWS else f"bench-index-{rows}"
        exp, _ = create_or_open(ExperimentConfig(name, "40k", "v2", True), LOGS)
        clustered_features(exp.paths.features("v2"), rows, seed=rows)
        load = wait_idle(max_wait)
        probe = Interference()
        probe.start()
        cmd = ["timeout", str(timeout), sys.executable, "-m", "rvc", "index", name, "--logs-dir", str(LOGS), "--json"]
        t = time.perf_counter()
        try:
            wall, peak, out = timed(cmd)
        except SystemExit as e:  # timed() exits on a failed command; `timeout` gives up with 124
            print(f"index of {rows} rows: stopped after {time.perf_counter() - t:.0f} s ({e})", flush=True)
            results.append({"rows": rows, "stopped": round(time.perf_counter() - t), "load_at_start": load})
            continue
        res = {"rows": rows, "wall": round(wall, 2), "peak_rss": peak, "load_at_start": load, **json.loads(out)}
        res["others_cores"] = probe.stop()
        results.append(res)
        print(json.dumps(res), flush=True)
    print(
        "\n| features | k-means | IVF lists | vectors | whole process | index function | peak RSS | load | reference |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "stopped" in r:
            print(f"| {r['rows']:,} × 768 | not finished: stopped after {r['stopped']} s (limit {timeout} s) ||||||||")
            continue
        ref = "8.0 s (function 2.3 s), 0.51 GB" if r["rows"] == REF_ROWS else "—"
        print(
            f"| {r['rows']:,} × 768 | {'to 10,000 centroids' if r['kmeans'] else 'no'} | {r['n_lists']} | "
            f"{r['vectors']:,} | {r['wall']:.1f} s | {r['seconds']:.1f} s | {r['peak_rss'] / 1e9:.2f} GB | "
            f"{r['load_at_start']:.2f} ({r['others_cores']:.2f} cores others) | {ref} |"
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="the generator's")
    ap.add_argument("--methods", default=METHODS, help=f"comma-separated (default {METHODS})")
    ap.add_argument("--runs", type=int, default=3, help="measured conversions for pm (median)")
    ap.add_argument("--runs-slow", type=int, default=1, help="measured conversions for the other methods")
    ap.add_argument("--max-wait", type=float, default=600, help="seconds to wait for a quiet machine before a run")
    ap.add_argument("--parts", default="convert,index", help="convert, index, or both")
    ap.add_argument("--index-rows", default=f"{REF_ROWS},{HOUR_ROWS}", help="feature rows of each index build")
    ap.add_argument("--index-timeout", type=int, default=900, help="seconds before an index build is stopped")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    for flag in ("--input", "--model", "--hub", "--rmvpe", "--index"):
        ap.add_argument(flag, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"date: {today()}; device {args.device}; 1-min load now {os.getloadavg()[0]:.2f}")
    parts = args.parts.split(",")
    if "convert" in parts:
        print_convert(convert_part(args))
    if "index" in parts:
        index_part([int(n) for n in args.index_rows.split(",") if n], args.max_wait, args.index_timeout)


if __name__ == "__main__":
    main()
