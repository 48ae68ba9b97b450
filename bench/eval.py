#!/usr/bin/env python3
"""Evaluation benchmark (issue 12): what judging one checkpoint costs next to an epoch, and (on a GPU) a quality
run that records the metric curves of a training from scratch.

Cost (the default): the 10-minute set of ../shared/bench/make_dataset.py through Step 2a and 2b (pm pitch, a
random-weight HuBERT-base: the real shapes and cost), then
  1. `python -m rvc train --max-steps N --no-eval` (reference model sizes, batch 4): steady seconds per step, and
     the steps of one epoch from the sampler, so the epoch time is steps × seconds per step;
  2. `python -m rvc export`, then `python -m rvc eval MODEL --experiment bench --json`: the judging time of one
     checkpoint (conversion of every held-out piece and its metrics: the ``seconds`` of the result, what each
     save costs during training) and the whole process (loading the encoders once per training run included).
Target: judging ≤ 10 % of the epoch time.

    .venv/bin/python bench/eval.py [--device cpu|cuda] [--steps 6]
    .venv/bin/python bench/eval.py --quality --device cuda [--epochs 30] [--minutes 10]

Quality (``--quality``, prepared for a GPU machine): trains from scratch on the set's voice for ``--epochs``
epochs, evaluating at every epoch, and prints the metric curves (metrics.jsonl's eval rows) as a table for
RESULTS.md: later changes to the trainer can then be judged by how they sound, not by their losses.
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
from common import ROOT, dataset, machine, timed, today  # noqa: E402

RVC = [sys.executable, "-m", "rvc"]


def prepare(logs: Path, minutes: float, device: str) -> Path:
    """The experiment ``bench`` after Step 2a and 2b; returns the HuBERT folder used."""
    from extract import random_weights

    ds, _ = dataset(minutes)
    hub, _ = random_weights(ROOT / "bench" / "out")
    timed([*RVC, "create", "bench", "--logs-dir", str(logs)])
    timed([*RVC, "preprocess", "bench", str(ds), "--logs-dir", str(logs)])
    extract = [*RVC, "extract", "bench", "--f0-method", "pm", "--embedder", str(hub), "--device", device]
    timed([*extract, "--logs-dir", str(logs)])
    return hub


def steps_per_epoch(logs: Path, batch: int) -> int:
    from rvc.core.experiment import open_experiment
    from rvc.steps.train.data import BucketSampler, TrainSet, build_filelist
    from rvc.steps.train.holdout import read_split

    exp = open_experiment("bench", logs)
    split = read_split(exp)
    items = build_filelist(exp, write=False, exclude=split.excluded if split else ())
    hps = {k: v for k, v in exp.model_config.items() if k in ("train", "data", "model")}
    return len(BucketSampler(TrainSet(items, hps, True).lengths, batch))


def cost(args: argparse.Namespace) -> None:
    logs = Path(tempfile.mkdtemp(prefix="rvc-bench-eval-"))
    try:
        prepare(logs, args.minutes, args.device)
        train = [*RVC, "train", "bench", "--no-pretrained", "--no-eval", "--max-steps", str(args.steps)]
        train += ["--batch-size", str(args.batch_size), "--device", args.device, "--save-every", "1000"]
        train += ["--log-every", "1", "--logs-dir", str(logs), "--weights-dir", str(logs / "weights")]
        timed(train)
        rows = [json.loads(line) for line in (logs / "bench" / "metrics.jsonl").read_text().splitlines()]
        per_step = [r["sec_per_step"] for r in rows if "sec_per_step" in r]
        steady = statistics.median(per_step[2:]) if len(per_step) > 3 else statistics.median(per_step)
        n_steps = steps_per_epoch(logs, args.batch_size)
        epoch = n_steps * steady
        model = logs / "weights" / "bench.pth"
        timed([*RVC, "export", "bench", "--out", str(model), "--logs-dir", str(logs)])
        cmd = [*RVC, "eval", str(model), "--experiment", "bench", "--device", args.device, "--json"]
        wall, peak, out = timed([*cmd, "--logs-dir", str(logs)])
        result = json.loads(out)
        split = json.loads((logs / "bench" / "holdout.json").read_text())
        print(f"machine: {machine()}")
        print(f"date: {today()}")
        print(f"held out: {len(split['held_out'])} of {split['pieces']} pieces, {len(split['guard'])} guard piece(s)")
        print(
            f"training: {steady:.2f} s per step (batch {args.batch_size}), {n_steps} steps per epoch -> epoch {epoch:.0f} s"
        )
        print(
            f"judging one checkpoint: {result['seconds']:.1f} s = {100 * result['seconds'] / epoch:.1f} % of an epoch"
        )
        print(f"eval process: {wall:.1f} s in all (encoders loaded once), peak RSS {peak / 1e9:.2f} GB")
        print("metrics of this 6-step model:", {k: result.get(k) for k in ("score", "mcd_db", "speaker_similarity")})
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def quality(args: argparse.Namespace) -> None:
    logs = ROOT / "bench" / "out" / "quality"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    prepare(logs, args.minutes, args.device)
    train = [*RVC, "train", "bench", "--no-pretrained", "--epochs", str(args.epochs), "--save-every", "1"]
    train += ["--latest-only", "--batch-size", str(args.batch_size), "--device", args.device, "--precision", "bf16"]
    wall, _, _ = timed([*train, "--logs-dir", str(logs), "--weights-dir", str(logs / "weights")])
    rows = [json.loads(line) for line in (logs / "bench" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("kind") == "eval"]
    print(f"machine: {machine()}; date: {today()}; {args.epochs} epochs from scratch in {wall:.0f} s")
    keys = ("score", "mcd_db", "f0_rmse_cents", "vuv_error", "speaker_similarity", "content_similarity")
    print("| epoch | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for r in evals:
        print(f"| {r['epoch']} | " + " | ".join("-" if r.get(k) is None else f"{r[k]:.3f}" for k in keys) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--quality", action="store_true", help="the GPU quality run (metric curves over epochs)")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    quality(args) if args.quality else cost(args)


if __name__ == "__main__":
    main()
