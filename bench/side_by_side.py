#!/usr/bin/env python3
"""The reference RVC WebUI and ours, side by side in one run on this machine: Step 2a preprocessing, pm pitch
extraction and the conversion of a 60 s file, each as whole processes, reference and ours alternating round by
round on the same files; prints each run, the medians, the ratio (our speed ÷ the reference's) and the CPU.

    .venv/bin/python bench/side_by_side.py [--parts preprocess,pm,convert] [--rounds 3] [--convert-rounds 2]
        [--ref $SCRATCH/rvcbase/rvc] [--ref-python $SCRATCH/rvcbase/venv/bin/python]

Needs the reference set up as ../shared/bench/reference/README.md says (its code, its venv, the 10-minute set at
$SCRATCH/bench_data/ds10, for `convert` also its index, the 60 s input and the seeded model its
rvc_infer_bench.py writes). Preprocess: the 10-minute set, 40k, 3.0 s pieces (as the reference's CPU run cuts),
2 workers, the reference's own command line. pm: each on the pieces its own preprocessing kept (speed as x real
time of that audio) and peak RSS of the process tree (50 ms samples). Convert: the same 60 s file, model and index
(pm, index rate 0.75), the conversion call alone after a warm-up, as rvc_infer_bench.py times the reference; ours
at the default precision (auto: bf16 on CPUs with AVX-512 BF16 or AMX) and in fp32, each against the reference.
Missing inputs of `convert` (the reference's index, the 60 s file and its 16 kHz copy) are made first.
The training step has its own script, train_step_side.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from scipy.io import wavfile

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # common.py, and rvc for the 16 kHz input
from common import ENV, SHARED, machine, timed, today  # noqa: E402

SCRATCH = Path(os.environ.get("SCRATCH", "/work/scratch"))
REF_BENCH = SHARED / "bench" / "reference"
THREADS = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "PYTHONHASHSEED": "0"}
Run = Callable[[Path], tuple[float, int]]  # work folder -> (figure, peak RSS bytes)


def audio_seconds(folder: Path) -> float:
    return sum(len(wavfile.read(p, mmap=True)[1]) / 16000 for p in folder.glob("*.wav"))


class Sides:
    """How to run each step the reference's way (its venv, its scripts, cwd its checkout) and ours."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.ref, self.py = Path(args.ref).resolve(), args.ref_python
        self.ds = Path(args.dataset)
        self.ref_env = {**os.environ, **THREADS, "PYTHONWARNINGS": "ignore"}
        self.our_env = {**ENV, **THREADS, "RVC_OFFLINE": "1"}
        self.rvc = [sys.executable, "-m", "rvc"]

    def ref_preprocess(self, work: Path) -> tuple[float, int]:
        exp = work / "ref"
        shutil.rmtree(exp, ignore_errors=True)
        exp.mkdir(parents=True)
        (exp / "preprocess.log").touch()
        cmd = [self.py, "infer/modules/train/preprocess.py", str(self.ds), "40000", "2", str(exp), "False", "3.0"]
        wall, peak, _ = timed(cmd, cwd=self.ref, env=self.ref_env)
        return wall, peak

    def our_preprocess(self, work: Path) -> tuple[float, int]:
        logs = work / "ours"
        shutil.rmtree(logs, ignore_errors=True)
        timed([*self.rvc, "create", "bench", "--logs-dir", str(logs)], env=self.our_env)
        cmd = [*self.rvc, "preprocess", "bench", str(self.ds), "--logs-dir", str(logs), "--segment", "3.0"]
        wall, peak, _ = timed([*cmd, "--workers", "2"], env=self.our_env)
        return wall, peak

    def ref_pm(self, work: Path) -> tuple[float, int]:
        exp = work / "ref"
        shutil.rmtree(exp / "2a_f0", ignore_errors=True), shutil.rmtree(exp / "2b-f0nsf", ignore_errors=True)
        (exp / "extract_f0_feature.log").touch()
        cmd = [self.py, "infer/modules/train/extract/extract_f0_print.py", str(exp), "2", "pm"]
        wall, peak, _ = timed(cmd, cwd=self.ref, env=self.ref_env)
        return audio_seconds(exp / "1_16k_wavs") / wall, peak

    def our_pm(self, work: Path) -> tuple[float, int]:
        logs = work / "ours"
        for folder in ("2a_f0", "2b-f0nsf"):
            shutil.rmtree(logs / "bench" / folder, ignore_errors=True)
        cmd = [*self.rvc, "extract", "bench", "--only", "pitch", "--f0-method", "pm", "--workers", "2"]
        wall, peak, _ = timed([*cmd, "--logs-dir", str(logs)], env=self.our_env)
        return audio_seconds(logs / "bench" / "1_16k_wavs") / wall, peak

    def ref_convert(self, work: Path) -> tuple[float, int]:
        infer = SCRATCH / "rvcbase" / "infer_bench"
        cmd = [self.py, str(REF_BENCH / "rvc_infer_bench.py"), "--rvc", str(self.ref), "--index", self.index]
        cmd += ["--work", str(infer), "--inputs", str(self.wav60), "--f0", "pm", "--index-modes", "index"]
        cmd += ["--runs", "1", "--fixture", str(SHARED / "fixtures/rvc_models/v2_40k_f0")]
        _, peak, out = timed([*cmd, "--check-train", str(REF_BENCH / "fill.py")], cwd=self.ref, env=self.ref_env)
        row = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
        return row["median_wall_s"], peak

    def our_convert(self, work: Path) -> tuple[float, int]:
        return self._our_convert("auto")

    def our_convert_fp32(self, work: Path) -> tuple[float, int]:
        return self._our_convert("fp32")

    def _our_convert(self, precision: str) -> tuple[float, int]:
        cmd = [sys.executable, str(HERE / "infer.py"), "--one", "pm", "--runs", "1", "--max-wait", "0"]
        cmd += ["--precision", precision]
        cmd += ["--input", str(self.npy60), "--model", str(self.model), "--index", self.index]
        cmd += ["--hub", str(HERE / "out" / "hubert_random"), "--rmvpe", str(HERE / "out" / "rmvpe_random.pt")]
        _, peak, out = timed(cmd, env=self.our_env)
        return json.loads(out.strip().splitlines()[-1])["runs"][0]["wall"], peak

    def prepare_convert(self) -> None:
        """What the conversion part reads, made once where missing: the reference's index of the 10-minute set (its
        own preprocess, pm and index steps, run_rvc_baseline.sh), the 60 s input as the reference README cuts it, and
        that input at 16 kHz for ours (decoded by FFmpeg, as both load audio)."""
        import subprocess

        import numpy as np

        if not Path(self.index).is_file():
            env = {**self.ref_env, "SCRATCH": str(SCRATCH), "RUNS": "1", "DS": str(self.ds), "F0S": "pm"}
            script = REF_BENCH / "run_rvc_baseline.sh"
            subprocess.run(["bash", str(script)], env={**env, "STEPS": "preprocess f0 index"}, check=True)
        if not self.wav60.is_file():
            self.wav60.parent.mkdir(parents=True, exist_ok=True)
            takes = [str(self.ds / "take_01_m44.mp3"), str(self.ds / "take_02_m48.wav")]
            mono = "aresample=44100,aformat=sample_fmts=s16:channel_layouts=mono"
            graph = f"[0:a]{mono}[a0];[1:a]{mono}[a1];[a0][a1]concat=n=2:v=0:a=1[out]"
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", takes[0], "-i", takes[1], "-filter_complex", graph]
            cmd += ["-map", "[out]", "-t", "60", "-ar", "44100", "-ac", "1", "-c:a", "pcm_s16le", str(self.wav60)]
            subprocess.run(cmd, check=True)
        if not self.npy60.is_file():
            from rvc.audio.io import decode_audio

            np.save(self.npy60, decode_audio(self.wav60, 16000).samples.astype(np.float32))

    @property
    def index(self) -> str:
        return str(self.ref / "logs/bench10/added_IVF480_Flat_nprobe_1_bench10_v2.index")

    wav60 = SCRATCH / "bench_data/infer/in_60s.wav"
    npy60 = SCRATCH / "bench_data/infer/in_60s_16k.npy"
    model = SCRATCH / "rvcbase/infer_bench/seeded_v2_40k_f0.pth"


PARTS = {  # part: (reference's run, ours (one or more ways, each against the reference), what the figure is, higher is faster)
    "preprocess": ("ref_preprocess", [("ours", "our_preprocess")], "s wall, 583.5 s, 3.0 s pieces, 2 workers", False),
    "pm": ("ref_pm", [("ours", "our_pm")], "x real time, pm, 2 workers", True),
    # ours as it runs by default (auto: bf16 where the CPU has AVX-512 BF16 or AMX) and in fp32
    "convert": (
        "ref_convert",
        [("ours auto", "our_convert"), ("ours fp32", "our_convert_fp32")],
        "s, conversion of 60 s, pm, index 0.75",
        False,
    ),
}


def side_by_side(name: str, sides: Sides, rounds: int, work: Path) -> str:
    ref_name, our_names, what, higher = PARTS[name]
    who_runs = [("reference", ref_name), *our_names]
    figs: dict[str, list[float]] = {who: [] for who, _ in who_runs}
    peaks: dict[str, int] = {who: 0 for who, _ in who_runs}
    for r in range(rounds):
        for who, fn in who_runs:
            fig, peak = getattr(sides, fn)(work)
            figs[who].append(fig)
            peaks[who] = max(peaks[who], peak)
            print(f"{name} round {r + 1} {who:9s}: {fig:.2f} ({what}); peak RSS {peak / 1e9:.2f} GB", flush=True)
    med = {who: statistics.median(v) for who, v in figs.items()}
    ref = med["reference"]
    lines = [f"{name} [{what}]: reference {ref:.2f} ({', '.join(f'{x:.2f}' for x in figs['reference'])}); "
             f"peak RSS {peaks['reference'] / 1e9:.2f} GB"]  # fmt: skip
    for who, _ in who_runs[1:]:
        ratio = med[who] / ref if higher else ref / med[who]
        runs = ", ".join(f"{x:.2f}" for x in figs[who])
        lines.append(f"  {who}: {med[who]:.2f} ({runs}): ratio {ratio:.2f}x; peak RSS {peaks[who] / 1e9:.2f} GB")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="preprocess,pm,convert")
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds for preprocess and pm")
    ap.add_argument("--convert-rounds", type=int, default=2)
    ap.add_argument("--ref", default=str(SCRATCH / "rvcbase/rvc"))
    ap.add_argument("--ref-python", default=str(SCRATCH / "rvcbase/venv/bin/python"))
    ap.add_argument("--dataset", default=str(SCRATCH / "bench_data/ds10"))
    args = ap.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    if "pm" in parts and "preprocess" not in parts:
        parts.insert(0, "preprocess")  # pm reads what each side's preprocessing wrote
    sides = Sides(args)
    if "convert" in parts:
        sides.prepare_convert()
    lines = []
    with tempfile.TemporaryDirectory(prefix="rvc-side-") as tmp:
        for part in parts:
            rounds = args.convert_rounds if part == "convert" else args.rounds
            lines.append(side_by_side(part, sides, rounds, Path(tmp)))
    print(f"\n{today()} {machine()}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
