#!/usr/bin/env python3
"""Step 2b benchmark: seconds per minute of audio, realtime factor and peak RSS (process tree) of each pitch
method and of the HuBERT features, each as one `python -m rvc extract --only ...` process from start to end.

The 10-minute dataset of ../shared/bench/make_dataset.py is preprocessed first (40k, v2, default settings).
Weights cannot be downloaded here, so HuBERT-base and RMVPE get random weights in their real architectures
(same cost as the published ones); CREPE/FCPE use their real weights (scripts/setup.sh --dev fetches them).

    .venv/bin/python bench/extract.py [--methods pm,dio,harvest,rmvpe,crepe-tiny,fcpe] [--no-features]

Reference WebUI on 2 idle cores (../shared/bench/baseline.md): pm 28.7x, dio 23.2x, harvest ~3.7x realtime;
HuBERT-base 5.5x realtime (11.0 s per audio minute, 3 s chunks, batch 1).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from scipy.io import wavfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, dataset, machine, timed, today  # noqa: E402

REFERENCE = {"pm": 28.7, "dio": 23.2, "harvest": 3.7, "features": 5.5}
TARGET = {"pm": 43.0, "dio": 35.0, "harvest": 3.7, "features": 5.5}


def random_weights(out: Path) -> tuple[Path, Path]:
    """A HuBERT-base folder and an rmvpe.pt with seeded random weights (the published shapes)."""
    from transformers import HubertConfig

    from rvc.content import hubert
    from rvc.pitch.rmvpe import RMVPENet

    hub, rm = out / "hubert_random", out / "rmvpe_random.pt"
    if not (hub / "config.json").is_file():
        torch.manual_seed(0)
        hubert._build(HubertConfig(classifier_proj_size=256)).save_pretrained(hub)
    if not rm.is_file():
        torch.manual_seed(0)
        sd = RMVPENet().state_dict()
        for k, v in sd.items():
            if v.is_floating_point():
                sd[k] = (
                    (1 + 0.05 * torch.randn_like(v).abs())
                    if k.endswith(("running_var", "weight")) and v.dim() == 1
                    else torch.randn_like(v) / math.sqrt(max(1, v[0].numel()))
                )
        torch.save(sd, rm)
    return hub, rm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="pm,dio,harvest,rmvpe,crepe-tiny,fcpe")
    ap.add_argument("--no-features", action="store_true")
    ap.add_argument("--minutes", type=float, default=10)
    args = ap.parse_args()
    ds, _ = dataset(args.minutes)
    hub, rm = random_weights(ROOT / "bench" / "out")
    logs = Path(tempfile.mkdtemp(prefix="rvc-bench-"))
    rvc = [sys.executable, "-m", "rvc"]
    try:
        timed([*rvc, "create", "bench", "--logs-dir", str(logs)])
        timed([*rvc, "preprocess", "bench", str(ds), "--logs-dir", str(logs)])
        exp = logs / "bench"
        audio = sum(len(wavfile.read(p, mmap=True)[1]) for p in (exp / "1_16k_wavs").glob("*.wav")) / 16000
        print(f"machine: {machine()}; torch threads {torch.get_num_threads()}")
        print(f"date: {today()}")
        print(f"input: {audio:.1f} s of preprocessed pieces ({len(list((exp / '1_16k_wavs').glob('*.wav')))} files)")
        print(f"{'stage':12} {'wall s':>8} {'s/min':>7} {'x realtime':>11} {'peak RSS':>9}  reference / target")
        stages = [m for m in args.methods.split(",") if m] + ([] if args.no_features else ["features"])
        for stage in stages:
            for d in ("2a_f0", "2b-f0nsf", "3_feature768"):
                shutil.rmtree(exp / d, ignore_errors=True)
            (exp / "extract.json").unlink(missing_ok=True)
            if stage == "features":
                cmd = [*rvc, "extract", "bench", "--only", "features", "--embedder", str(hub), "--device", "cpu"]
            else:
                cmd = [
                    *rvc,
                    "extract",
                    "bench",
                    "--only",
                    "pitch",
                    "--f0-method",
                    stage,
                    "--rmvpe",
                    str(rm),
                    "--device",
                    "cpu",
                ]
            wall, peak, _ = timed([*cmd, "--logs-dir", str(logs)])
            ref = f"{REFERENCE[stage]}x / >= {TARGET[stage]}x" if stage in REFERENCE else "-"
            print(f"{stage:12} {wall:8.1f} {60 * wall / audio:7.2f} {audio / wall:10.1f}x {peak / 1e9:8.2f}G  {ref}")
    finally:
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
