"""The conversion engine: a loaded model (with its embedder, index and pitch estimator) that converts 16 kHz
audio, the reference pipeline (§7 of the reference notes):

16 kHz input -> zero-phase 48 Hz high-pass -> long inputs cut at their quietest points near every ``x_center``
seconds -> pitch once over the padded whole (transposed) -> per chunk: HuBERT features, retrieval from the index
(``index_rate``), 2x time repeat, ``protect`` for unvoiced frames, the generator -> chunks trimmed of their padding
and joined -> RMS envelope mix -> optional resampling -> peak limit 0.99.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rvc.audio.io import resample
from rvc.core.errors import RvcError
from rvc.inference.config import ConvertConfig
from rvc.inference.retrieval import load_index, retrieve

if TYPE_CHECKING:
    from rvc.content.hubert import Embedder
    from rvc.models.synthesizer import Synthesizer

SR16 = 16000
HOP = 160
HIGHPASS_HZ = 48


def highpass(x: np.ndarray) -> np.ndarray:
    """The zero-phase 5th-order 48 Hz Butterworth high-pass conversion applies (as the reference converts)."""
    from scipy import signal

    sos = signal.butter(5, HIGHPASS_HZ, btype="high", fs=SR16, output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def cut_points(x: np.ndarray, cfg: ConvertConfig) -> list[int]:
    """Sample positions (multiples of 160) where a long input is cut: near every ``x_center`` s, at the quietest
    160-sample stretch within ±``x_query`` s."""
    t_center, t_query, t_max = (int(SR16 * v) for v in (cfg.x_center, cfg.x_query, cfg.x_max))
    if len(x) <= t_max:
        return []
    padded = np.pad(x, (HOP // 2, HOP // 2), mode="reflect")
    loud = np.convolve(np.abs(padded), np.ones(HOP), mode="valid")[: len(x)]  # 160-sample moving sum
    points = []
    for t in range(t_center, len(x), t_center):
        lo, hi = max(0, t - t_query), min(len(loud), t + t_query)
        if hi <= lo:
            break
        points.append(int(lo + np.argmin(loud[lo:hi])) // HOP * HOP)
    return sorted(set(p for p in points if 0 < p < len(x)))


def mix_rms(x_in: np.ndarray, sr_in: int, out: np.ndarray, sr_out: int, rate: float) -> np.ndarray:
    """Gives the output ``1 - rate`` of the input's loudness envelope (0.5 s RMS frames, interpolated)."""
    from rvc.audio.slicer import frame_rms

    def envelope(x: np.ndarray, sr: int) -> np.ndarray:
        r = frame_rms(x, sr // 2 * 2, sr // 2)
        t = torch.from_numpy(r.astype(np.float32))[None, None]
        return torch.nn.functional.interpolate(t, size=len(out), mode="linear")[0, 0].numpy()

    if len(out) == 0:
        return out
    e_in, e_out = envelope(x_in, sr_in), np.maximum(envelope(out, sr_out), 1e-6)
    return out * e_in ** (1 - rate) * e_out ** (rate - 1)


def limit_peak(x: np.ndarray, peak: float) -> np.ndarray:
    """``x`` scaled down so that its peak is at most ``peak`` (unchanged when it already is)."""
    top = float(np.abs(x).max()) if len(x) else 0.0
    return x / (top / peak) if top / peak > 1 else x


@dataclass(frozen=True)
class DecodeSpan:
    """The frames of a chunk the generator decodes, and the NSF sine's phase (cycles) before the first one."""

    head: int
    length: int
    phase0: float = 0.0


class Converter:
    """A loaded model (and embedder, index, pitch estimator) that converts 16 kHz audio."""

    def __init__(
        self,
        model: Path | dict[str, Any] | Synthesizer,
        cfg: ConvertConfig,
        on_progress: Callable[[str], None] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        """``model``: a model file, its loaded contents, or a generator already in memory (training evaluates its
        own, on its device); ``embedder``: one already loaded (an evaluation shares it with its metrics), used when
        it is the model's own.

        The content encoder is the one the model was trained with (its ``embedder_model``; contentvec when it
        records none), downloaded on first use; ``cfg.embedder`` naming another one is refused (EmbedderError)."""
        from rvc.hub import weights
        from rvc.models.synthesizer import Synthesizer, load_generator
        from rvc.nn.devices import pick_precision, resolve_device
        from rvc.pitch.methods import make_estimator

        say = on_progress or (lambda _m: None)
        self.cfg = cfg
        if isinstance(model, Synthesizer):
            self.net, self.device = model, str(next(model.parameters()).device)
        else:
            self.device = resolve_device(cfg.device)
            say("loading the model")
            self.net = load_generator(model).to(self.device)
        c = self.net.cfg
        self.sr, self.version, self.f0 = c.sampling_rate, c.version, c.f0
        self.precision, why = pick_precision(cfg.precision, self.device, c.upsample_initial_channel)
        self.precision_note = f"{self.precision} ({why})"  # what the UI and the CLI show
        if cfg.speaker >= c.spk_embed_dim:
            raise RvcError(f"speaker {cfg.speaker} does not exist: this model has {c.spk_embed_dim}")
        self.embedder = self._content_encoder(model, embedder, say)
        self.index: Any = None
        self.index_vectors: np.ndarray | None = None
        if cfg.index is not None and cfg.index_rate > 0:
            self.index, self.index_vectors = load_index(Path(cfg.index), 256 if self.version == "v1" else 768)
        self.estimate: Callable[[np.ndarray], np.ndarray] | None = None
        if self.f0:
            say(f"loading pitch ({cfg.f0_method})")
            rm = cfg.rmvpe or (weights.ensure("rmvpe") if cfg.f0_method == "rmvpe" else None)
            self.estimate = make_estimator(cfg.f0_method, rmvpe_path=rm, device=self.device)

    def _content_encoder(self, model: Any, shared: Embedder | None, say: Callable[[str], None]) -> Embedder:
        from rvc.content import embedders, hubert

        chosen = embedders.parse(self.cfg.embedder)
        meta = self.net.meta
        if meta is None:  # a generator in memory: its caller knows what it was trained with
            choice = chosen or embedders.EmbedderChoice(embedders.DEFAULT)
        else:
            label = Path(model).name if isinstance(model, (str, Path)) else "this model"
            choice = embedders.for_model(meta.get("embedder_model"), chosen, label)
        self.embedder_name = str(choice)
        path = embedders.locate(choice, lambda p: say(p.message))
        if shared is not None and Path(shared.source).resolve() == Path(path).resolve():
            return shared
        say(f"loading the content encoder ({choice})")
        return hubert.load_embedder(path, self.device)

    def pitch(self, x: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
        """``(coarse code, f0 in Hz)`` of ``x``, transposed, padded or cut to ``frames``."""
        from scipy.signal import medfilt

        from rvc.pitch.methods import coarse_f0

        if self.estimate is None:
            raise RvcError("this model has no pitch guidance: it takes no pitch")
        f0 = self.estimate(x)
        if self.cfg.f0_method == "harvest" and self.cfg.filter_radius > 2:
            f0 = medfilt(f0, 3)
        f0 = f0 * 2 ** (self.cfg.transpose / 12)
        f0 = np.pad(f0, (0, max(0, frames - len(f0))))[:frames]
        return coarse_f0(f0), f0.astype(np.float32)

    def _features(self, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Content features of a chunk with the index's share blended in, and (for ``protect``) the plain ones."""
        cfg = self.cfg
        feats = torch.from_numpy(self.embedder.features([x], self.version)[0])
        base = feats.clone() if (self.f0 and cfg.protect < 0.5) else None
        if self.index_vectors is not None:
            retrieved = torch.from_numpy(retrieve(feats.numpy(), self.index, self.index_vectors))
            feats = cfg.index_rate * retrieved + (1 - cfg.index_rate) * feats
        return feats, base

    def chunk(
        self, x: np.ndarray, coarse: np.ndarray | None, f0: np.ndarray | None, span: DecodeSpan | None = None
    ) -> np.ndarray:
        """One chunk of 16 kHz audio (with its pitch, for a pitch model) through the generator; with ``span``,
        only those frames are decoded (the features and pitch of the whole chunk are their context)."""
        cfg = self.cfg
        feats, base = self._features(x)
        feats = feats.repeat_interleave(2, dim=0)
        n = min(len(x) // HOP, len(feats), len(coarse) if coarse is not None else len(feats))
        feats = feats[:n]
        d = self.device
        sid = torch.tensor([cfg.speaker], device=d)
        args: tuple[torch.Tensor, ...] = (sid,)
        if self.f0 and coarse is not None and f0 is not None:
            pitch, pitchf = torch.from_numpy(coarse[:n]).long()[None], torch.from_numpy(f0[:n])[None]
            if base is not None:
                base = base.repeat_interleave(2, dim=0)[:n]
                mask = torch.where(pitchf[0] > 0, 1.0, cfg.protect)[:, None]
                feats = feats * mask + base * (1 - mask)
            args = (pitch.to(d), pitchf.to(d), sid)
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast(torch.device(d).type, dtype=torch.bfloat16, enabled=bf16):
            span = span or DecodeSpan(0, n)
            lengths = torch.tensor([n], device=d)
            audio = self.net.infer(
                feats[None].to(d), lengths, *args, head=span.head, length=span.length, phase0=span.phase0
            )[0]
        return audio[0, 0].float().cpu().numpy()

    def convert(
        self, x16: np.ndarray, on_progress: Callable[[str], None] | None = None
    ) -> tuple[np.ndarray, int, dict[str, Any]]:
        """16 kHz mono float32 -> (audio, sample rate, details)."""
        say = on_progress or (lambda _m: None)
        cfg, timings = self.cfg, {}
        t0 = time.monotonic()
        x16 = limit_peak(x16, 0.95)
        x = highpass(x16)
        t_pad = int(SR16 * cfg.x_pad)
        t_pad_tgt = int(self.sr * cfg.x_pad)
        cuts = cut_points(x, cfg)
        # one hop more at the end than the reference, so the last part is not a frame short either
        padded = np.pad(x, (t_pad, t_pad + HOP), mode="reflect" if len(x) > t_pad + HOP else "constant")
        coarse = f0 = None
        if self.f0:
            say("pitch")
            coarse, f0 = self.pitch(padded, len(padded) // HOP)
        timings["pitch"] = round(time.monotonic() - t0, 3)
        pieces, start = [], 0
        bounds = [*cuts, len(x)]
        for i, end in enumerate(bounds):
            say(f"converting part {i + 1}/{len(bounds)}")
            seg = padded[start : end + 2 * t_pad + HOP]  # one hop more, as the reference: no frame short at the end
            fs = slice(start // HOP, (end + 2 * t_pad + HOP) // HOP)
            out = self.chunk(seg, coarse[fs] if coarse is not None else None, f0[fs] if f0 is not None else None)
            pieces.append(out[t_pad_tgt : len(out) - t_pad_tgt])
            start = end
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        audio = audio[: round(len(x) * self.sr / SR16)]  # the input's duration, to the sample
        timings["convert"] = round(time.monotonic() - t0 - timings["pitch"], 3)
        if cfg.rms_mix_rate < 1:
            audio = mix_rms(x16, SR16, audio, self.sr, cfg.rms_mix_rate)
        sr = self.sr
        if cfg.resample_sr >= 16000 and cfg.resample_sr != sr:
            audio, sr = resample(audio.astype(np.float32), sr, cfg.resample_sr), cfg.resample_sr
        audio = limit_peak(audio, 0.99)
        timings["total"] = round(time.monotonic() - t0, 3)
        return (
            audio.astype(np.float32),
            sr,
            {"chunks": len(bounds), "timings": timings, "precision": self.precision_note},
        )
