"""What training records as it goes: ``metrics.jsonl`` (one JSON object per logged step: losses, grad norms,
learning rate, step time, peak GPU memory) and TensorBoard event files in the experiment folder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from rvc.models.synthesizer import Synthesizer
from rvc.steps.train.data import wav_to_mel
from rvc.steps.train.step import State, unwrap


def gpu_memory(device: torch.device) -> dict[str, float]:
    """The peak GPU memory so far, for the metrics line (nothing on CPU)."""
    if device.type != "cuda":
        return {}
    return {"gpu_peak_gb": round(torch.cuda.max_memory_allocated(device) / 1e9, 3)}


class MetricsWriter:
    """``metrics.jsonl`` (one JSON object per logged step) and TensorBoard event files in the experiment folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "metrics.jsonl"
        self.tb: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(folder))
        except ImportError:  # tensorboard is optional at run time
            pass

    def write(
        self,
        step: int,
        epoch: int,
        losses: dict[str, float],
        lr: float,
        seconds: float,
        extra: dict[str, float] | None = None,
    ) -> None:
        row = {
            "step": step,
            "epoch": epoch,
            **{k: round(v, 6) for k, v in losses.items()},
            "lr": lr,
            "sec_per_step": round(seconds, 4),
            "time": round(time.time(), 3),
            **(extra or {}),
        }
        # appended, not replaced: a line cut by a kill is skipped by read_metrics, the lines before it stay
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in losses.items():
                self.tb.add_scalar(f"loss/{k}" if k.startswith("loss") else k, v, step)
            self.tb.add_scalar("learning_rate", lr, step)

    def evaluation(
        self,
        step: int,
        epoch: int,
        metrics: dict[str, float | None],
        best: bool,
        seconds: float,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """One evaluation's row (``"kind": "eval"``) and its scalars (``eval/<metric>``)."""
        row = {"kind": "eval", "step": step, "epoch": epoch, **metrics, "best": best}
        row |= {"eval_seconds": round(seconds, 3), "time": round(time.time(), 3), **(extra or {})}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in metrics.items():
                if v is not None:
                    self.tb.add_scalar(f"eval/{k}", v, step)

    def images(self, step: int, s: State, loader: Iterable[tuple[torch.Tensor, ...]]) -> None:
        """Mel spectrograms of one real slice and the generator's version of it."""
        if self.tb is None:
            return
        d = s.hps["data"]
        batch = next(iter(loader))
        s.net_g.eval()
        with torch.no_grad(), torch.compiler.set_stance("force_eager"):  # other shapes: no recompiling
            phone, plen, pitch, pitchf, spec, slen, wav, _, sid = (x[:1].to(s.device) for x in batch)
            net = unwrap(s.net_g)
            assert isinstance(net, Synthesizer)
            args = (pitch, pitchf, sid) if s.use_f0 else (sid,)
            y_hat = net.infer(phone, plen, *args)[0]
            for tag, y in (("mel/real", wav), ("mel/generated", y_hat)):
                m = wav_to_mel(y.squeeze(1), d)[0]
                img = ((m - m.min()) / (m.max() - m.min() + 1e-9)).flip(0).cpu()
                self.tb.add_image(tag, img[None], step)
        s.net_g.train()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_metrics(folder: Path, kind: str = "train") -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` in ``folder`` of one kind: ``"train"`` (a logged step) or ``"eval"`` (an
    evaluation); none if there is no such file."""
    path = folder / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if isinstance(row, dict) and row.get("kind", "train") == kind:
            rows.append(row)
    return rows
