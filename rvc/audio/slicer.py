"""The silence slicer of Step 2a: cuts a recording at its pauses and trims leading/trailing silence.

Behaviour and parameters are the reference's (an RMS slicer run with -42 dB, 1500 ms, 400 ms, 15 ms hop and
500 ms of silence kept); the implementation here works on runs of silent frames. One deliberate difference: a
signal with no frame above the threshold yields no chunk at all (the reference keeps a chunk of pure silence,
which normalisation would then amplify into noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlicerParams:
    """Slicer settings, in the reference's units."""

    threshold_db: float = -42.0
    min_length_ms: int = 1500  # a chunk is only cut off once it is at least this long
    min_interval_ms: int = 400  # the shortest silence that can be cut
    hop_ms: int = 15  # RMS frame hop
    max_sil_kept_ms: int = 500  # silence kept on each side of a cut

    def frames(self, sample_rate: int) -> tuple[int, int, int, int, int]:
        """``(hop, win, min_length, min_interval, max_sil_kept)``: hop and window in samples, the rest in frames."""
        hop = round(sample_rate * self.hop_ms / 1000)
        interval_samples = round(sample_rate * self.min_interval_ms / 1000)
        win = min(interval_samples, 4 * hop)
        min_length = round(sample_rate * self.min_length_ms / 1000 / hop)
        min_interval = round(interval_samples / hop)
        max_sil_kept = round(sample_rate * self.max_sil_kept_ms / 1000 / hop)
        return hop, win, min_length, min_interval, max_sil_kept


def frame_rms(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """RMS of centred frames (``win`` samples, zero padding of ``win // 2`` on both sides), ``1 + len // hop``
    frames for an even ``win``. Computed from a running sum of squares: O(len) whatever the window."""
    pad = win // 2
    sq = np.zeros(len(x) + 2 * pad + 1, dtype=np.float64)
    np.cumsum(np.square(x, dtype=np.float64), out=sq[pad + 1 : pad + 1 + len(x)])
    sq[pad + 1 + len(x) :] = sq[pad + len(x)]
    n_frames = 1 + (len(x) + 2 * pad - win) // hop
    starts = np.arange(n_frames) * hop
    energy = sq[starts + win] - sq[starts]
    return np.sqrt(np.maximum(energy, 0.0) / win)


def _silent_runs(silent: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of consecutive True values."""
    edges = np.diff(np.concatenate(([0], silent.view(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _cut_tags(
    rms: np.ndarray, threshold: float, min_length: int, min_interval: int, keep: int
) -> list[tuple[int, int]]:
    """Frame ranges ``[a, b)`` to remove (``a == b``: a plain cut), in order."""
    total = len(rms)
    tags: list[tuple[int, int]] = []
    clip_start = 0

    def argmin(lo: int, hi: int) -> int:  # position of the quietest frame in [lo, hi]
        return lo + int(np.argmin(rms[lo : hi + 1]))

    for start, end in _silent_runs(rms < threshold):
        length = end - start
        if end == total:  # trailing silence: trim it, keeping up to `keep` frames after the last sound
            if length >= min_interval:
                tags.append((argmin(start, min(total, start + keep)), total + 1))
            break
        leading = start == 0 and end > keep
        cuttable = length >= min_interval and end - clip_start >= min_length
        if not (leading or cuttable):
            continue
        if length <= keep:
            pos = argmin(start, end)
            tag = (0, pos) if start == 0 else (pos, pos)
        elif length <= 2 * keep:
            right, mid = argmin(end - keep, end), argmin(end - keep, start + keep)
            left = argmin(start, start + keep)
            tag = (0, right) if start == 0 else (min(left, mid), max(right, mid))
        else:
            tag = (0 if start == 0 else argmin(start, start + keep), argmin(end - keep, end))
        tags.append(tag)
        clip_start = tag[1]
    return tags


def slice_regions(x: np.ndarray, sample_rate: int, params: SlicerParams | None = None) -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` of the chunks of ``x`` between its silences.

    Args:
        x: mono signal ``[T]``.
        sample_rate: its rate in Hz.
    Returns:
        The chunks in order; ``[]`` when no frame reaches the threshold (silence only).
    """
    params = params or SlicerParams()
    hop, win, min_length, min_interval, keep = params.frames(sample_rate)
    threshold = 10 ** (params.threshold_db / 20)
    rms = frame_rms(x, win, hop)
    if len(x) == 0 or not np.any(rms >= threshold):
        return []
    if (len(x) + hop - 1) // hop <= min_length:
        return [(0, len(x))]
    tags = _cut_tags(rms, threshold, min_length, min_interval, keep)
    bounds = [0] + [b for tag in tags for b in tag] + [len(rms)]
    regions = []
    for lo, hi in zip(bounds[::2], bounds[1::2], strict=True):
        a, b = lo * hop, min(len(x), hi * hop)
        if b > a:
            regions.append((a, b))
    return regions
