"""Live conversion: 16 kHz audio arrives block by block and leaves converted, at the model's rate, one block
later plus the crossfade.

Each block is converted inside a window of past audio (``context``): HuBERT, the index, the content encoder and
the flow see the whole window; pitch is estimated on the newest part (with a little context) and the older frames
keep the pitch they had; the decoder runs only on the new audio plus the crossfade and the seam search (and
:data:`DEC_MARGIN` frames before it, more than its receptive field, dropped after). The NSF sine continues the
phase it had at the end of the previous block, so consecutive blocks join in phase. Blocks are joined by SOLA:
the start of the new audio is shifted (by at most ``search``) to where it best matches the tail the previous block
kept back, and crossfaded into it. Algorithmic latency: block + crossfade + search.

The input is high-passed causally (a streaming 5th-order 48 Hz Butterworth), where a whole-file conversion uses
the zero-phase filter: the two differ in phase below ~100 Hz only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from rvc.core.errors import RvcError
from rvc.inference.converter import HOP, SR16, Converter, DecodeSpan, mix_rms
from rvc.live.config import LiveConfig
from rvc.models.decoder import Decoder

DEC_MARGIN = Decoder.OVERLAP  # frames decoded before the kept span: more than the decoder's receptive field
PITCH_CONTEXT = 32  # frames of older audio the pitch of the new frames is estimated with
HUBERT_PAD = 320  # samples of silence after the window: HuBERT's last 20 ms frame then covers the window's end


@dataclass
class LiveStats:
    """Compute time per block (ms), the blocks the silence gate skipped, and those dropped to catch up."""

    compute_ms: list[float] = field(default_factory=list)
    silent: int = 0
    dropped: int = 0

    def summary(self, block_ms: float) -> dict[str, float | int | bool]:
        c = np.array(self.compute_ms or [0.0])
        p99 = float(np.percentile(c, 99))
        return {
            "blocks": len(self.compute_ms), "compute_ms_median": round(float(np.median(c)), 2),
            "compute_ms_p99": round(p99, 2), "keeps_up": p99 < block_ms, "silent_blocks": self.silent,
            "dropped_blocks": self.dropped,
        }  # fmt: skip


class LiveEngine:
    """Converts a stream block by block; one engine per stream (it holds the stream's state)."""

    def __init__(self, converter: Converter, cfg: LiveConfig | None = None) -> None:
        from scipy import signal

        self.c, self.cfg = converter, cfg or LiveConfig()
        self.sr = converter.sr
        self.upp = self.sr // 100  # output samples per frame
        f = self.cfg.frames
        self.nb, self.nc, self.ns = f(self.cfg.block), f(self.cfg.crossfade), f(self.cfg.search)
        self.nk = 2 * math.ceil(f(self.cfg.context) / 2)
        self.new = self.nb + self.nc + self.ns  # frames of new audio decoded per block
        self.window = self.nk + self.new  # frames; one more is kept, see _span
        self.x = np.zeros((self.window + 1) * HOP, np.float32)
        self.f0 = np.zeros(self.window + 1, np.float32)
        self.received = 0  # frames since the stream began
        self.phase = 0.0  # the NSF sine's phase at the next block's first decoded frame
        ncs = self.nc * self.upp
        self.tail = np.zeros(ncs, np.float32)
        self.fade_in = (np.sin(np.linspace(0, np.pi / 2, ncs, dtype=np.float32)) ** 2).astype(np.float32)
        self.sos = signal.butter(5, 48, btype="high", fs=SR16, output="sos")
        self.zi = np.zeros((self.sos.shape[0], 2))
        self.gate = 10 ** (self.cfg.silence_db / 20) if self.cfg.silence_db > -100 else 0.0
        self.stats = LiveStats()

    @property
    def block_samples(self) -> int:
        """Input samples per block (16 kHz)."""
        return self.nb * HOP

    @property
    def out_block(self) -> int:
        """Output samples per block (the model's rate)."""
        return self.nb * self.upp

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency: the block being filled, the crossfade held back and the seam search."""
        return (self.nb + self.nc + self.ns) * 10.0

    def process(self, block: np.ndarray) -> np.ndarray:
        """One block of :attr:`block_samples` 16 kHz samples in, :attr:`out_block` samples out."""
        if len(block) != self.block_samples:
            raise RvcError(f"a live block has {self.block_samples} samples at 16 kHz, not {len(block)}")
        t0 = time.perf_counter()
        self._take(block)
        if self.gate and float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) < self.gate:
            self.stats.silent += 1
            self.tail[:] = 0.0
            self.phase = 0.0
            return np.zeros(self.out_block, np.float32)
        out = self._convert()
        y = self._join(out)
        self.stats.compute_ms.append((time.perf_counter() - t0) * 1000)
        return y

    def skip(self, block: np.ndarray) -> np.ndarray:
        """Drops a block to catch up: it enters the window (the next blocks keep their context) unconverted, and
        silence of its length goes out; counted in ``stats.dropped``."""
        self._take(block)
        self.tail[:] = 0.0
        self.phase = 0.0
        self.stats.dropped += 1
        return np.zeros(self.out_block, np.float32)

    def _take(self, block: np.ndarray) -> None:
        """The block high-passed (the filter's state carried on) into the window; its frames' pitch still 0."""
        from scipy import signal

        x, self.zi = signal.sosfilt(self.sos, np.asarray(block, np.float64), zi=self.zi)
        self.x = np.concatenate([self.x[len(x) :], x.astype(np.float32)])
        self.f0 = np.concatenate([self.f0[self.nb :], np.zeros(self.nb, np.float32)])
        self.received += self.nb

    def _convert(self) -> np.ndarray:
        """The window through the model; the decoded new audio, ``(new) * upp`` samples."""
        from rvc.pitch.methods import coarse_f0

        # the window starts on an even frame of the stream, so HuBERT's 20 ms frames fall on the same audio in
        # every block (with an odd block length, every other window is one frame longer)
        frames = self.window + (self.received - self.window) % 2
        f0 = self.f0[-frames:]
        coarse = None
        if self.c.f0:
            self._pitch()
            coarse = coarse_f0(f0)
        head = frames - self.new - DEC_MARGIN
        span = DecodeSpan(head, self.new + DEC_MARGIN, self.phase)
        audio = np.concatenate([self.x[-frames * HOP :], np.zeros(HUBERT_PAD, np.float32)])
        out = self.c.chunk(audio, coarse, f0 if self.c.f0 else None, span)[DEC_MARGIN * self.upp :]
        out = np.pad(out, (0, max(0, self.new * self.upp - len(out))))[: self.new * self.upp]
        if self.c.f0:  # the phase at the next block's first decoded frame, nb frames later
            steps = (f0[head : head + self.nb].astype(np.float64) / self.sr) % 1
            self.phase = float((self.phase + self.upp * steps.sum()) % 1)
        if self.c.cfg.rms_mix_rate < 1:
            out = mix_rms(self.x[-self.new * HOP :], SR16, out, self.sr, self.c.cfg.rms_mix_rate)
        return out.astype(np.float32)

    def _pitch(self) -> None:
        """Pitch of the newest frames (and of the crossfade's and the margin's), with some older audio as context."""
        assert self.c.estimate is not None
        fresh = self.new + DEC_MARGIN
        frames = min(self.window, fresh + PITCH_CONTEXT)
        est = self.c.estimate(self.x[-frames * HOP :]) * 2 ** (self.c.cfg.transpose / 12)
        est = np.pad(est, (0, max(0, frames - len(est))))[:frames]
        self.f0[-fresh:] = est[-fresh:]

    def _join(self, out: np.ndarray) -> np.ndarray:
        """SOLA: the offset (up to ``search``) where ``out`` best continues the kept tail, crossfade, emit."""
        ncs, reach = len(self.tail), self.ns * self.upp
        offset = 0
        if reach and np.any(self.tail):
            seg = out[: ncs + reach]
            corr = np.correlate(seg, self.tail, mode="valid")
            energy = np.sqrt(np.convolve(seg**2, np.ones(ncs), mode="valid") + 1e-8)
            offset = int(np.argmax(corr / energy))
        y = out[offset : offset + self.out_block + ncs].copy()
        y[:ncs] = y[:ncs] * self.fade_in + self.tail * (1 - self.fade_in)
        self.tail = y[self.out_block :].copy()
        return y[: self.out_block]


def convert_stream(engine: LiveEngine, x16: np.ndarray) -> np.ndarray:
    """``x16`` (16 kHz) fed to ``engine`` in blocks as a microphone would deliver them (without waiting), the
    output a listener hears: as long as the input (at the model's rate), delayed by the engine's latency."""
    n = engine.block_samples
    blocks = -(-len(x16) // n)
    padded = np.pad(x16.astype(np.float32), (0, blocks * n - len(x16)))
    out = [engine.process(padded[i * n : (i + 1) * n]) for i in range(blocks)]
    y = np.concatenate(out) if out else np.zeros(0, np.float32)
    return y[: round(len(x16) * engine.sr / SR16)]


def block_that_keeps_up(p99_ms: float, cfg: LiveConfig) -> float | None:
    """An estimate of the smallest block (s, a multiple of 10 ms) whose p99 compute stays under the block, from
    the p99 measured at ``cfg.block``: compute grows at most in proportion to the window (context + block +
    crossfade), so ``p99 · (K + B) / (K + B0) < B`` gives the bound. None: no block keeps up at this context."""
    k = cfg.context + cfg.crossfade + cfg.search
    p99 = p99_ms / 1000
    if p99 < cfg.block:
        return cfg.block
    if p99 >= k + cfg.block:
        return None
    need = p99 * k / (k + cfg.block - p99)
    return round((math.floor(need / 0.01 + 1e-9) + 1) * 0.01, 2)
