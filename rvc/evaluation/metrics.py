"""Objective measures of how close a recording (the *test*, e.g. a conversion) is to a *reference*; all of them
take mono float32 audio at 16 kHz, frames of 10 ms.

========================  ======  ==========  ===================================================================
metric                    unit    better      what it is
========================  ======  ==========  ===================================================================
``mcd_db``                dB      lower       mel-cepstral distortion: ``10/ln 10 · sqrt(2 Σ_d (c_d − c'_d)²)``
                                              over mel-cepstral coefficients 1..24 (of an 80-band log-mel
                                              amplitude spectrum, SPTK's cepstrum convention),
                                              mean over the reference's frames within 40 dB of its loudest
                                              (frames aligned, not warped: conversion keeps timing); 0 = same
``f0_rmse_cents``         cents   lower       RMS of ``1200 log2(f0_test / f0_ref)`` on frames voiced in both
``vuv_error``             ratio   lower       fraction of frames voiced in one and unvoiced in the other
``speaker_similarity``    cosine  higher      GE2E embeddings of the test and of the voice (−1..1; 1 = same)
``content_similarity``    cosine  higher      mean frame cosine of the HuBERT features of reference and test
``f0_correlation``        r       higher      Pearson correlation of log F0 on frames voiced in both (−1..1)
========================  ======  ==========  ===================================================================

:func:`overall_score` folds them into one number in 0..1 (higher is better) that ranks checkpoints.
Pitch is tracked with Praat's autocorrelation method (``pm``) unless told otherwise: fast, deterministic and
independent of the converter's own pitch method.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rvc.content.hubert import Embedder
    from rvc.evaluation.speaker import SpeakerEncoder

SAMPLE_RATE = 16000
CEPSTRA = 24  # coefficients 1..24 (c0, the loudness, left out)
MCD_RANGE_DB = 40.0
MAX_SHIFT_SECONDS = 2.0
MCD_K = 10.0 / math.log(10.0)

# the score: weight of each part; a part that is missing (no probe, nothing voiced) is left out and the rest
# renormalised
SCORE_WEIGHTS = {
    "speaker_similarity": 0.30,  # clipped to 0..1
    "mcd_db": 0.25,  # 1 / (1 + mcd / 5 dB)
    "content_similarity": 0.15,  # clipped to 0..1
    "f0_rmse_cents": 0.15,  # 1 / (1 + rmse / 100 cents)
    "vuv_error": 0.15,  # 1 − error
}


# --- spectra -------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _dct_matrix(n: int, k: int) -> np.ndarray:
    """``[k, n]``: the cepstrum c0..c(k-1) of ``n`` log bands in the convention ``log|X(ω)| = c0 + 2 Σ c_m
    cos(m ω)`` (SPTK's, which MCD's constant assumes): ``c_m = 1/n Σ_j L_j cos(π m (j + ½) / n)``."""
    j = np.arange(n)
    return np.cos(np.pi * np.arange(k)[:, None] * (j[None, :] + 0.5) / n) / n


def _log_mel(x16: np.ndarray) -> np.ndarray:
    """``[frames, 80]`` natural-log mel amplitude (25 ms window, 10 ms hop, 512-point FFT, Slaney filters)."""
    import torch

    from rvc.nn.mel import MelConfig, log_mel

    cfg = MelConfig(sample_rate=SAMPLE_RATE, n_fft=512, win=400, hop=160, n_mels=80, center=True, log_clamp=1e-6)
    return log_mel(torch.from_numpy(np.ascontiguousarray(x16, np.float32)), cfg).T.numpy().astype(np.float64)


def mel_cepstrum(x16: np.ndarray) -> np.ndarray:
    """``[frames, 25]`` mel-cepstral coefficients c0..c24 of the log-mel amplitude."""
    lm = _log_mel(x16)
    return lm @ _dct_matrix(lm.shape[1], CEPSTRA + 1).T


def mcd_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Mel-cepstral distortion in dB (lower is better; 0 for identical recordings), frame by frame over the
    shorter length, on the reference's frames within 40 dB of its loudest. NaN when there is no such frame."""
    ref_lm, test_lm = _log_mel(reference), _log_mel(test)
    n = min(len(ref_lm), len(test_lm))
    ref_lm, test_lm = ref_lm[:n], test_lm[:n]
    energy_db = 10 * np.log10(np.sum(np.exp(2 * ref_lm), axis=1) + 1e-20)
    keep = energy_db > energy_db.max(initial=-np.inf) - MCD_RANGE_DB
    if not keep.any():
        return math.nan
    dct = _dct_matrix(ref_lm.shape[1], CEPSTRA + 1)[1:]
    diff = (ref_lm[keep] - test_lm[keep]) @ dct.T
    return float(np.mean(MCD_K * np.sqrt(2.0 * np.sum(diff**2, axis=1))))


# --- pitch ---------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _estimator(method: str) -> Callable[[np.ndarray], np.ndarray]:
    from rvc.pitch.methods import make_estimator

    if method == "rmvpe":  # the one method whose weights are given to it (the neural ones fetch their own)
        from rvc.hub import weights

        return make_estimator(method, weights.ensure("rmvpe"))
    return make_estimator(method)


def f0_track(x16: np.ndarray, method: str = "pm") -> np.ndarray:
    """F0 in Hz per 10 ms frame (0 = unvoiced)."""
    return _estimator(method)(np.asarray(x16, np.float32))


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(a), len(b))
    return np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64)


def f0_rmse_cents(f0_ref: np.ndarray, f0_test: np.ndarray) -> float:
    """RMS pitch difference in cents on frames voiced in both (lower is better); NaN when none is."""
    a, b = _pair(f0_ref, f0_test)
    both = (a > 0) & (b > 0)
    if not both.any():
        return math.nan
    return float(np.sqrt(np.mean((1200.0 * np.log2(b[both] / a[both])) ** 2)))


def vuv_error(f0_ref: np.ndarray, f0_test: np.ndarray) -> float:
    """Fraction of frames voiced in one track and unvoiced in the other (0..1, lower is better)."""
    a, b = _pair(f0_ref, f0_test)
    return float(np.mean((a > 0) != (b > 0))) if len(a) else math.nan


def f0_correlation(f0_ref: np.ndarray, f0_test: np.ndarray) -> float:
    """Pearson correlation of log F0 on frames voiced in both (−1..1, higher is better); NaN with fewer than 3
    such frames or a flat track."""
    a, b = _pair(f0_ref, f0_test)
    both = (a > 0) & (b > 0)
    if both.sum() < 3:
        return math.nan
    la, lb = np.log(a[both]), np.log(b[both])
    if la.std() < 1e-9 or lb.std() < 1e-9:
        return math.nan
    return float(np.corrcoef(la, lb)[0, 1])


# --- embeddings ----------------------------------------------------------------------------------------------


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two vectors (−1..1)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / den) if den > 0 else math.nan


def content_similarity(features_ref: np.ndarray, features_test: np.ndarray) -> float:
    """Mean cosine of the frames of two feature sequences ``[frames, dim]`` over the shorter (−1..1)."""
    n = min(len(features_ref), len(features_test))
    if n == 0:
        return math.nan
    a, b = np.asarray(features_ref[:n], np.float64), np.asarray(features_test[:n], np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.sum(a * b, axis=1) / np.maximum(den, 1e-12)))


# --- alignment -----------------------------------------------------------------------------------------------


def delay(reference: np.ndarray, test: np.ndarray, max_shift: float = MAX_SHIFT_SECONDS) -> int:
    """The lag in samples (within ±``max_shift`` s) at which ``test`` best matches ``reference``: positive when
    ``test`` starts later. Found by FFT cross-correlation."""
    n = len(reference) + len(test) - 1
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(test, size) * np.conj(np.fft.rfft(reference, size)), size)
    limit = int(max_shift * SAMPLE_RATE)
    late = np.arange(0, min(limit, len(test) - 1) + 1)
    early = -np.arange(1, min(limit, len(reference) - 1) + 1)
    lags = np.concatenate([late, early])
    return int(lags[np.argmax(xc[lags])])


def align(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two recordings shifted by their :func:`delay` and cut to their common length."""
    lag = delay(reference, test)
    ref, tst = (reference, test[lag:]) if lag >= 0 else (reference[-lag:], test)
    n = min(len(ref), len(tst))
    return ref[:n], tst[:n]


# --- a pair of recordings ------------------------------------------------------------------------------------


@dataclass
class PairMetrics:
    """The metrics of a test recording against a reference of the same words (NaN-free: None where a metric
    has nothing to measure, e.g. F0 RMSE with no frame voiced in both)."""

    mcd_db: float | None
    f0_rmse_cents: float | None
    vuv_error: float | None
    speaker_similarity: float | None
    content_similarity: float | None
    delay_seconds: float = 0.0
    score: float = 0.0

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def _finite(v: float) -> float | None:
    return None if not math.isfinite(v) else round(float(v), 6)


def compare(
    reference: np.ndarray,
    test: np.ndarray,
    *,
    embedder: Embedder,
    encoder: SpeakerEncoder,
    version: str = "v2",
    f0_method: str = "pm",
) -> PairMetrics:
    """All the metrics of ``test`` against ``reference`` (both 16 kHz), after aligning them by cross-correlation
    when their lengths differ; speaker similarity is between the two recordings' own embeddings."""
    lag = 0
    if len(reference) != len(test):
        lag = delay(reference, test)
        reference, test = align(reference, test)
    f0_ref, f0_test = f0_track(reference, f0_method), f0_track(test, f0_method)
    feats = embedder.features([reference, test], version)
    m = PairMetrics(
        mcd_db=_finite(mcd_db(reference, test)),
        f0_rmse_cents=_finite(f0_rmse_cents(f0_ref, f0_test)),
        vuv_error=_finite(vuv_error(f0_ref, f0_test)),
        speaker_similarity=_finite(cosine(encoder.embed(reference), encoder.embed(test))),
        content_similarity=_finite(content_similarity(feats[0], feats[1])),
        delay_seconds=round(lag / SAMPLE_RATE, 4),
    )
    m.score = round(overall_score(m.to_dict()), 6)
    return m


# --- the score -----------------------------------------------------------------------------------------------


def _clip01(v: float) -> float:
    return min(max(v, 0.0), 1.0)


PARTS: dict[str, Callable[[float], float]] = {  # each metric as a 0..1 part of the score, 1 the best
    "speaker_similarity": _clip01,
    "mcd_db": lambda v: 1.0 / (1.0 + max(v, 0.0) / 5.0),
    "content_similarity": _clip01,
    "f0_rmse_cents": lambda v: 1.0 / (1.0 + v / 100.0),
    "vuv_error": lambda v: _clip01(1.0 - v),
}


def _parts(metrics: Mapping[str, float | None]) -> dict[str, float]:
    def get(key: str) -> float | None:
        v = metrics.get(key)
        return float(v) if v is not None and math.isfinite(float(v)) else None

    raw = {k: get(k) for k in PARTS}
    speaker = [v for v in (raw["speaker_similarity"], get("probe_speaker_similarity")) if v is not None]
    raw["speaker_similarity"] = sum(speaker) / len(speaker) if speaker else None
    return {k: PARTS[k](v) for k, v in raw.items() if v is not None}


def overall_score(metrics: Mapping[str, float | None]) -> float:
    """One number in 0..1, higher is better, that ranks checkpoints: the weighted mean (``SCORE_WEIGHTS``) of

    - speaker similarity, clipped to 0..1 (with probes: the mean of the pieces' and the probes' similarity),
    - ``1 / (1 + MCD / 5 dB)``,
    - content similarity, clipped to 0..1,
    - ``1 / (1 + F0 RMSE / 100 cents)``,
    - ``1 − V/UV error``;

    a part with nothing to measure is left out and the weights of the rest renormalised (0 when none is left).
    """
    parts = _parts(metrics)
    total = sum(SCORE_WEIGHTS[k] for k in parts)
    return sum(SCORE_WEIGHTS[k] * v for k, v in parts.items()) / total if total else 0.0
