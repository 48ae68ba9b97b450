#!/usr/bin/env python3
"""fp32 against bf16 training at equal steps on the benchmark voice, judged by `rvc compare`.

The 10-minute set of ../shared/bench/make_dataset.py is preprocessed and extracted once (40k, v2, pm, the seeded
random-weight HuBERT of bench/extract.py: no hub here), the experiment copied, and each copy trained on the CPU
for the same number of steps from the same seed, one in fp32 and one in bf16 autocast (from scratch: the
pretrained G/D cannot be downloaded here), then both exported and compared on the same held-out pieces. With
several seeds each precision trains once per seed: the spread between seeds of one precision is the noise that a
difference between precisions must exceed.

    .venv/bin/python bench/train_precision.py [--steps 130] [--batch-size 4] [--seeds 1234,1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import ENV, ROOT, dataset, machine, timed, today  # noqa: E402

RVC = [sys.executable, "-m", "rvc"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=130)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seeds", default="1234", help="comma-separated training seeds (1234: the reference's)")
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]
    ds, _ = dataset(10)
    sys.path.insert(0, str(ROOT))
    from extract import random_weights

    hub, _ = random_weights(HERE / "out")
    env = {**ENV, "RVC_OFFLINE": "1"}
    logs = Path(tempfile.mkdtemp(prefix="rvc-precision-"))
    try:
        timed([*RVC, "create", "fp32", "--logs-dir", str(logs)], env=env)
        timed([*RVC, "preprocess", "fp32", str(ds), "--logs-dir", str(logs)], env=env)
        cmd = [*RVC, "extract", "fp32", "--f0-method", "pm", "--embedder", str(hub), "--logs-dir", str(logs)]
        timed(cmd, env=env)
        models, walls = [], {}
        for seed in seeds:
            for precision in ("fp32", "bf16"):
                models.append(_train(logs, precision, seed, args, env, walls))
        judged_on = f"fp32-{seeds[0]}"  # the held-out pieces of the extracted set: the same in every copy
        cmd = [*RVC, "compare", *models, "--experiment", judged_on, "--f0-method", "pm", "--embedder", str(hub)]
        _, _, out = timed([*cmd, "--device", "cpu", "--json", "--logs-dir", str(logs)], env=env)
        (HERE / "out").mkdir(exist_ok=True)
        (HERE / "out" / "train_precision.json").write_text(out)
        print(f"{today()} {machine()}; {args.steps} steps, batch {args.batch_size}, from scratch, seeds {seeds}")
        rows = json.loads(out)
        for row in rows:
            name = Path(row["model"]).stem
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float) and k != "seconds")
            print(f"{name}: {walls[name]:.0f} s of training; {metrics}")
        _summary(rows)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def _train(logs: Path, precision: str, seed: int, args: argparse.Namespace, env: dict, walls: dict) -> str:
    """Trains a copy of the extracted experiment ``fp32`` as ``<precision>-<seed>`` and exports its small model."""
    name = f"{precision}-{seed}"
    shutil.copytree(logs / "fp32", logs / name, ignore=shutil.ignore_patterns("G_*.pth", "D_*.pth", "*.jsonl"))
    cmd = [*RVC, "train", name, "--max-steps", str(args.steps), "--epochs", "1000", "--no-pretrained", "--seed"]
    cmd += [str(seed), "--batch-size", str(args.batch_size), "--precision", precision, "--no-eval"]
    t = time.perf_counter()
    timed([*cmd, "--save-every", "1000", "--latest-only", "--logs-dir", str(logs)], env=env)
    walls[name] = time.perf_counter() - t
    out = logs / f"{name}.pth"
    timed([*RVC, "export", name, "--out", str(out), "--logs-dir", str(logs)], env=env)
    print(f"{name}: {args.steps} steps in {walls[name]:.0f} s", flush=True)
    return str(out)


def _summary(rows: list[dict]) -> None:
    """Each precision's mean score and its spread over the seeds (max - min)."""
    for precision in ("fp32", "bf16"):
        scores = [r["score"] for r in rows if Path(r["model"]).stem.startswith(precision + "-")]
        print(
            f"{precision}: mean score {sum(scores) / len(scores):.3f}, spread over seeds {max(scores) - min(scores):.3f}"
        )


if __name__ == "__main__":
    main()
