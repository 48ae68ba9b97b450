"""Memory of converting long inputs: peak RSS of ``python -m rvc infer`` on 1, 10 and 60 minutes of audio.

The point is the shape, not the speed: above ``stream_above`` (300 s) conversion streams part by part, so
memory must stay flat as the input grows (only the decoded 16 kHz input, 3.8 MB per minute, is held whole).
To keep the run short the models are small (a thin random HuBERT and a narrow generator, in the real file
formats); pitch is pm.

    python bench/long_input.py [--minutes 1 10 60]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine, timed, today  # noqa: E402

OUT = ROOT / "bench" / "out" / "long"
SMALL_HUBERT = dict(
    hidden_size=768, num_hidden_layers=12, intermediate_size=32, num_attention_heads=4, conv_dim=(32,) * 7,
    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=16, classifier_proj_size=256,
)  # fmt: skip
TINY = {
    "inter_channels": 16, "hidden_channels": 16, "filter_channels": 32, "n_heads": 2, "n_layers": 1,
    "upsample_initial_channel": 32, "gin_channels": 16, "spk_embed_dim": 1,
}  # fmt: skip


def models() -> tuple[Path, Path]:
    import torch
    from transformers import HubertConfig

    from rvc.content import hubert
    from rvc.core.config import load_model_config
    from rvc.models.checkpoint import save_atomic, small_model
    from rvc.models.synthesizer import Synthesizer, SynthesizerConfig

    emb, model = OUT / "hubert_small", OUT / "tiny_v2_40k.pth"
    if not (emb / "config.json").is_file():
        torch.manual_seed(0)
        hubert._build(HubertConfig(**SMALL_HUBERT)).save_pretrained(emb)
    if not model.is_file():
        hps = load_model_config("40k", "v2")
        hps["model"].update(TINY)
        cfg = SynthesizerConfig.from_hparams(hps, "v2", True)
        torch.manual_seed(0)
        save_atomic(small_model(Synthesizer(cfg).state_dict(), cfg, "40k", "bench"), model)
    return emb, model


def audio(minutes: float) -> Path:
    """Speech-like tones with pauses every few seconds, 16-bit 16 kHz WAV."""
    from scipy.io import wavfile

    path = OUT / f"input_{minutes:g}min.wav"
    if path.is_file():
        return path
    sr, n = 16000, int(minutes * 60 * 16000)
    t = np.arange(n, dtype=np.float64) / sr
    f0 = 160 + 40 * np.sin(2 * np.pi * 0.7 * t)
    x = np.sin(2 * np.pi * np.cumsum(f0) / sr) * (0.3 * (np.sin(2 * np.pi * 0.25 * t) > -0.6))
    wavfile.write(path, sr, (x * 32767).astype(np.int16))
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    emb, model = models()
    rows = []
    for minutes in args.minutes:
        src = audio(minutes)
        out = OUT / f"out_{minutes:g}min.flac"
        cmd = [sys.executable, "-m", "rvc", "infer", str(model), str(src), str(out), "--f0-method", "pm"]
        cmd += ["--embedder", str(emb), "--device", "cpu", "--json"]
        wall, peak, stdout = timed(cmd)
        r = json.loads(stdout)
        rows.append((minutes, wall, peak / 1e9, r["seconds"], r["chunks"]))
        print(f"{minutes:g} min: {wall:.1f} s wall, peak RSS {peak / 1e9:.2f} GB, {r['chunks']} parts", flush=True)
    print(f"\nMachine: {machine()}. Date: {today()}.\n")
    print("| input | parts | wall | peak RSS | output duration |")
    print("|---|---|---|---|---|")
    for minutes, wall, gb, seconds, parts in rows:
        print(f"| {minutes:g} min | {parts} | {wall:.1f} s | {gb:.2f} GB | {seconds:.1f} s |")


if __name__ == "__main__":
    main()
