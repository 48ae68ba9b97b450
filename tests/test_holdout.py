"""The held-out set of Step 3: how many pieces, spread over the files, sharing no audio with training (the 0.3 s
overlaps included), never in the filelist, kept across resumes."""

import json

import numpy as np
import pytest

from rvc.audio.io import write_wav_float32
from rvc.steps.preprocess.pieces import normalize, segment_bounds
from rvc.steps.train import holdout as H
from rvc.steps.train import loop as T
from tests.helpers import tone, write_wav
from tests.test_train import cfg

SR = 40000


def cut(folder, file_index, regions, rng):
    """Writes the pieces Step 2a would cut from ``regions`` (lengths in seconds, each its own sounding region)
    as ``<file>_<j>.wav``; returns each stem's (region, first sample, end sample)."""
    spans, j = {}, 0
    for r, seconds in enumerate(regions):
        x = rng.standard_normal(int(seconds * SR)).astype(np.float32) * 0.1
        for a, b in segment_bounds(len(x), SR):
            stem = f"{file_index}_{j}"
            write_wav_float32(folder / f"{stem}.wav", normalize(x[a:b]), SR)
            spans[stem] = (file_index, r, a, b)
            j += 1
    return spans


def test_count_bounds():
    assert H.held_out_count(9, 0.05) == 0  # too few pieces to spare any
    assert H.held_out_count(10, 0.05) == 2  # at least 2
    assert H.held_out_count(100, 0.05) == 5
    assert H.held_out_count(1000, 0.05) == 20  # at most 20
    assert H.held_out_count(100, 0.0) == 0


def test_overlap_is_read_from_the_audio(tmp_path):
    spans = cut(tmp_path, 0, [12.0, 2.0], np.random.default_rng(0))
    stems = sorted(spans, key=lambda s: int(s.split("_")[1]))
    for a, b in zip(stems, stems[1:], strict=False):
        same_region = spans[a][1] == spans[b][1]
        assert H.shares_audio(tmp_path / f"{a}.wav", tmp_path / f"{b}.wav", SR) == same_region, (a, b)


def test_split_is_spread_and_shares_no_audio_with_training(tmp_path):
    rng = np.random.default_rng(1)
    spans = {}
    for f in range(4):  # four files, long regions (overlapping pieces) and short ones (a piece on its own)
        spans |= cut(tmp_path, f, [14.0, 3.0, 10.0, 2.5], rng)
    stems = sorted(spans)
    split = H.choose(stems, 0.1, tmp_path, SR)
    assert len(split.held_out) == H.held_out_count(len(stems), 0.1) >= 4
    assert {spans[s][0] for s in split.held_out} == {0, 1, 2, 3}  # every file gives a piece
    training = [s for s in stems if s not in split.excluded]
    for h in split.held_out:
        f, r, a, b = spans[h]
        for t in training:
            g, q, c, d = spans[t]
            assert not (f == g and r == q and c < b and a < d), f"{t} shares audio with held-out {h}"
    # pieces alone in their region cost no guard: with enough of them, the split costs no training audio
    assert len(split.guard) == 0


def test_split_recorded_and_kept(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    stems = [f"0_{j}" for j in range(3)]  # the experiment has too few pieces: no split, and it says why
    split = H.ensure_split(exp, stems, 0.05)
    assert not split.held_out and "all are needed" in split.describe()
    assert json.loads((exp.paths.root / H.HOLDOUT_FILE).read_text())["held_out"] == []


@pytest.fixture(scope="module")
def many_pieces(tmp_path_factory):
    """Three 14 s recordings: four pieces each, twelve in all, enough for a held-out set."""
    d = tmp_path_factory.mktemp("many")
    for i, f in enumerate((180.0, 220.0, 260.0)):
        x = tone(14.0, 16000, f) * (0.6 + 0.4 * np.sin(np.linspace(0, 20, 14 * 16000)))
        write_wav(d / f"{i}.wav", x.astype(np.float32), 16000)
    return d


def test_held_out_pieces_never_enter_the_filelist_and_resume_keeps_them(tmp_path, tiny_experiment, many_pieces):
    exp = tiny_experiment("split", data=many_pieces)
    T.train(exp, cfg(tmp_path, epochs=1, max_steps=2, no_eval=True, holdout=0.05))
    recorded = json.loads((exp.paths.root / H.HOLDOUT_FILE).read_text())
    held, guard = recorded["held_out"], recorded["guard"]
    assert len(held) == 2 and recorded["pieces"] >= 10
    lines = (exp.paths.root / "filelist.txt").read_text().splitlines()
    trained = {line.split("|")[0].rsplit("/", 1)[-1][: -len(".wav")] for line in lines}
    assert not (set(held) | set(guard)) & trained
    assert len(trained - {"mute40k"}) == recorded["pieces"] - len(held) - len(guard)
    T.train(exp, cfg(tmp_path, epochs=2, no_eval=True, holdout=0.05))  # resumed: the same split
    assert json.loads((exp.paths.root / H.HOLDOUT_FILE).read_text()) == recorded
    T.train(exp, cfg(tmp_path, epochs=3, no_eval=True, holdout=0.0))  # turned off: every piece trains
    lines = (exp.paths.root / "filelist.txt").read_text().splitlines()
    assert len(lines) == recorded["pieces"] + 2
