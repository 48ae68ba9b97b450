"""Judging a model: it converts recordings of its own voice (an experiment's held-out pieces, or a folder of
recordings) and of other voices (probes), and :mod:`rvc.evaluation.metrics` measures the results.

On a piece of the training voice, converted at transpose 0, the output should be the piece again: mel-cepstral
distortion, F0 RMSE and voicing error against the original, speaker similarity to the training voice (the mean
GE2E embedding of training pieces), content similarity of the HuBERT features of input and output. On a probe,
nothing is the same but the words and the tune: how far the model moves the foreign voice toward the target
(speaker similarity of the output against the probe's own), how well the output follows its pitch (F0
correlation) and keeps its words (content similarity).

What does not change from one checkpoint to the next (the voice's embedding, the originals' features and
pitch, the probes' baselines) is computed once, when the :class:`Judge` is made.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rvc.evaluation import metrics as M

if TYPE_CHECKING:
    from rvc.content.hubert import Embedder
    from rvc.evaluation.speaker import SpeakerEncoder

logger = logging.getLogger(__name__)

ConvertFn = Callable[[np.ndarray], np.ndarray]  # 16 kHz in, 16 kHz out, same duration
PIECE_KEYS = ("mcd_db", "f0_rmse_cents", "vuv_error", "speaker_similarity", "content_similarity")
PROBE_KEYS = ("probe_speaker_similarity", "probe_baseline_similarity", "probe_f0_correlation")


@dataclass(frozen=True)
class Recording:
    """A named 16 kHz mono float32 recording."""

    name: str
    audio: np.ndarray


@dataclass
class Evaluation:
    """The metrics of one model: means over the pieces (``PIECE_KEYS``), over the probes (``PROBE_KEYS``) and
    the ``score``; per piece and per probe in ``pieces`` and ``probes``."""

    metrics: dict[str, float | None]
    pieces: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    on_training_pieces: bool = False  # no held-out set: judged on audio it was trained on
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return float(self.metrics.get("score") or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "pieces": self.pieces,
            "probes": self.probes,
            "on_training_pieces": self.on_training_pieces,
            "seconds": round(self.seconds, 3),
        }


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return round(sum(finite) / len(finite), 6) if finite else None


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


class Judge:
    """Measures conversions of ``pieces`` (the target voice) and ``probes`` (other voices)."""

    def __init__(
        self,
        pieces: list[Recording],
        voice: list[Recording],
        probes: list[Recording],
        *,
        embedder: Embedder,
        encoder: SpeakerEncoder,
        version: str,
        on_training_pieces: bool = False,
    ) -> None:
        if not pieces and not probes:
            raise ValueError("nothing to judge on: no pieces and no probes")
        self.pieces, self.probes = pieces, probes
        self.embedder, self.encoder, self.version = embedder, encoder, version
        self.on_training_pieces = on_training_pieces
        self.voice = encoder.embed_many([r.audio for r in voice or pieces])
        self._features = {r.name: self._content(r.audio) for r in [*pieces, *probes]}
        self._f0 = {r.name: M.f0_track(r.audio) for r in [*pieces, *probes]}
        self._baseline = {r.name: M.cosine(encoder.embed(r.audio), self.voice) for r in probes}

    def _content(self, x16: np.ndarray) -> np.ndarray:
        return self.embedder.features([x16], self.version)[0]

    def piece_metrics(self, piece: Recording, out: np.ndarray) -> dict[str, Any]:
        f0_out = M.f0_track(out)
        return {
            "name": piece.name,
            "mcd_db": _num(M.mcd_db(piece.audio, out)),
            "f0_rmse_cents": _num(M.f0_rmse_cents(self._f0[piece.name], f0_out)),
            "vuv_error": _num(M.vuv_error(self._f0[piece.name], f0_out)),
            "speaker_similarity": _num(M.cosine(self.encoder.embed(out), self.voice)),
            "content_similarity": _num(M.content_similarity(self._features[piece.name], self._content(out))),
        }

    def probe_metrics(self, probe: Recording, out: np.ndarray) -> dict[str, Any]:
        return {
            "name": probe.name,
            "probe_speaker_similarity": _num(M.cosine(self.encoder.embed(out), self.voice)),
            "probe_baseline_similarity": _num(self._baseline[probe.name]),
            "probe_f0_correlation": _num(M.f0_correlation(self._f0[probe.name], M.f0_track(out))),
            "content_similarity": _num(M.content_similarity(self._features[probe.name], self._content(out))),
        }

    def judge(self, convert: ConvertFn) -> Evaluation:
        """Converts every piece and probe with ``convert`` and measures the results."""
        t0 = time.monotonic()
        pieces = [self.piece_metrics(p, fit_length(convert(p.audio), len(p.audio))) for p in self.pieces]
        probes = [self.probe_metrics(p, fit_length(convert(p.audio), len(p.audio))) for p in self.probes]
        metrics: dict[str, float | None] = {k: _mean([p[k] for p in pieces]) for k in PIECE_KEYS}
        if probes:
            metrics |= {k: _mean([p[k] for p in probes]) for k in PROBE_KEYS}
            if not pieces:
                metrics["content_similarity"] = _mean([p["content_similarity"] for p in probes])
        metrics["score"] = round(M.overall_score(metrics), 6)
        return Evaluation(metrics, pieces, probes, self.on_training_pieces, time.monotonic() - t0)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """The output cut or zero-padded to the input's length (conversion keeps timing; resampling may not, by a
    sample or two)."""
    x = np.asarray(x, np.float32)
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def converter_fn(converter: Any) -> ConvertFn:
    """A :class:`~rvc.inference.converter.Converter` as a 16 kHz -> 16 kHz function."""
    from rvc.audio.io import resample

    def convert(x16: np.ndarray) -> np.ndarray:
        audio, sr, _ = converter.convert(x16)
        return resample(audio, sr, 16000) if sr != 16000 else audio

    return convert
