"""``rvc score``: two recordings of the same words (a cover and the original singer, a conversion and its
source) measured against each other with every metric of :mod:`rvc.evaluation.metrics`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rvc.core.config import DEVICES
from rvc.core.options import option
from rvc.evaluation.metrics import PairMetrics
from rvc.pitch.methods import F0_METHODS


@dataclass(frozen=True)
class ScoreConfig:
    """How ``rvc score`` measures two recordings."""

    embedder: str | None = option(
        None, "content encoder of the content similarity: a name (default contentvec) or a folder/.pt"
    )
    f0_method: str = option("pm", "pitch tracker of the F0 metrics (default {default})", choices=F0_METHODS)
    version: str = option("v2", "the HuBERT features compared: v1 (256-d) or v2 (768-d)", choices=("v1", "v2"))
    device: str = option("auto", "auto, cpu or cuda", choices=DEVICES)


def score_files(reference: Path, test: Path, config: ScoreConfig) -> PairMetrics:
    """The metrics of ``test`` against ``reference`` (two recordings of the same words).

    Raises:
        EvaluationError: either is not a usable recording.
        WeightsError: the HuBERT or GE2E weights are missing (offline).
    """
    from rvc.evaluation.metrics import compare
    from rvc.evaluation.recordings import load_recording
    from rvc.evaluation.sources import load_tools
    from rvc.nn.devices import resolve_device

    ref, tst = load_recording(reference, "reference"), load_recording(test, "test recording")
    device = resolve_device(config.device)
    embedder, encoder = load_tools(config.embedder, device)
    return compare(ref, tst, embedder=embedder, encoder=encoder, version=config.version, f0_method=config.f0_method)
