"""Slicer, segmenter and normaliser on synthetic signals whose silences are known to the sample."""

import math

import numpy as np
import pytest

from rvc.audio.slicer import SlicerParams, frame_rms, slice_regions
from rvc.steps.preprocess import normalize, segment_bounds

SR = 40000
HOP = 600  # 15 ms at 40 kHz; the RMS window is 4 hops = 2400 samples, centred


def loud(seconds: float, amp: float = 0.5) -> np.ndarray:
    # +A, -A, ... : every window holding k of these samples has energy exactly k*A^2
    n = int(seconds * SR)
    return (amp * (-1.0) ** np.arange(n)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


def test_params_in_frames():
    assert SlicerParams().frames(SR) == (600, 2400, 100, 27, 33)


def test_frame_rms_matches_direct_computation():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(10_007).astype(np.float32)
    rms = frame_rms(x, 2400, 600)
    padded = np.pad(x.astype(np.float64), 1200)
    direct = [math.sqrt(np.mean(padded[t * 600 : t * 600 + 2400] ** 2)) for t in range(len(rms))]
    assert len(rms) == 1 + len(x) // 600
    np.testing.assert_allclose(rms, direct, rtol=1e-9, atol=1e-12)


def test_exact_boundaries_leading_middle_trailing():
    # 1 s silence | 3 s sound | 2 s silence | 3 s sound | 1 s silence
    x = np.concatenate([quiet(1), loud(3), quiet(2), loud(3), quiet(1)])
    # Frame t sees samples [600t-1200, 600t+1200). Leading run: frames 0..64 silent, so 500 ms (33 frames) kept
    # before frame 65: the cut lands on the quietest frame of 32..65, the first exact zero, 32.
    # Middle run: frames 269..398 (the first frame clear of the sound after 160000, to the last before 240000);
    # it is longer than 2x33 frames, so the cut removes frames 269..366 (33 kept before the next sound).
    # Trailing run from frame ceil(361200/600) = 602: trimmed there.
    assert slice_regions(x, SR) == [(32 * HOP, 269 * HOP), (366 * HOP, 602 * HOP)]


def test_every_voiced_sample_is_kept():
    rng = np.random.default_rng(1)
    parts, voiced = [], []
    pos = 0
    for _ in range(8):
        gap, sound = rng.uniform(0.1, 2.5), rng.uniform(0.3, 4.0)
        parts += [quiet(gap), loud(sound, rng.uniform(0.05, 0.9))]
        pos += len(parts[-2])
        voiced.append((pos, pos + len(parts[-1])))
        pos += len(parts[-1])
    x = np.concatenate(parts + [quiet(0.7)])
    regions = slice_regions(x, SR)
    covered = np.zeros(len(x), bool)
    for a, b in regions:
        covered[a:b] = True
    for a, b in voiced:
        assert covered[a:b].all()
    # no cut inside sound, chunks in order and disjoint
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(regions, regions[1:], strict=False))


def test_short_gaps_are_not_cut_and_short_clips_are_not_split():
    x = np.concatenate([loud(2), quiet(0.3), loud(2)])  # 300 ms < 400 ms minimum interval
    assert slice_regions(x, SR) == [(0, len(x))]
    x = np.concatenate([loud(0.5), quiet(0.6), loud(0.5)])  # first clip < 1.5 s: no cut
    assert len(slice_regions(x, SR)) == 1


def test_silence_only_and_empty_give_nothing():
    assert slice_regions(quiet(5), SR) == []
    assert slice_regions(np.full(SR * 3, 1e-4, np.float32), SR) == []  # -80 dBFS hum: below -42 dB
    assert slice_regions(np.zeros(0, np.float32), SR) == []


def test_segment_bounds_exact_with_tail():
    # 10 s at 40 kHz: pieces of 3.7 s every 3.4 s; the last 3.2 s (<= 4.0 s) become the tail
    assert segment_bounds(400_000, SR) == [(0, 148_000), (136_000, 284_000), (272_000, 400_000)]
    assert segment_bounds(100_000, SR) == [(0, 100_000)]  # up to 4.0 s: one piece
    assert segment_bounds(160_000, SR) == [(0, 160_000)]
    assert segment_bounds(160_001, SR) == [(0, 148_000), (136_000, 160_001)]
    assert segment_bounds(400_000, SR, 3.0) == [
        (0, 120_000),
        (108_000, 228_000),
        (216_000, 336_000),
        (324_000, 400_000),
    ]


@pytest.mark.parametrize("length", [1, 40_000, 159_999, 160_000, 160_001, 523_456, 1_000_000])
@pytest.mark.parametrize("segment", [3.0, 3.7])
def test_segments_cover_every_sample(length, segment):
    bounds = segment_bounds(length, SR, segment)
    covered = np.zeros(length, bool)
    for a, b in bounds:
        assert b - a <= int(SR * (segment + 0.3)) + 1
        covered[a:b] = True
    assert covered.all()
    assert bounds[-1][1] == length


def test_normalize_formula_and_filter():
    x = np.array([0.1, -0.4, 0.2], np.float32)
    np.testing.assert_allclose(normalize(x), 0.675 * x / 0.4 + 0.25 * x, rtol=1e-6)
    assert abs(np.abs(normalize(x)).max() - (0.675 + 0.25 * 0.4)) < 1e-6
    y = np.array([2.0, -2.5], np.float32)  # peak exactly 2.5 is kept
    assert normalize(y) is not None
    assert normalize(np.array([0.1, 2.51], np.float32)) is None
    assert normalize(np.zeros(10, np.float32)) is None
    assert normalize(np.array([0.1, np.nan], np.float32)) is None
