"""The held-out set of Step 3: a few pieces kept out of training, so that a checkpoint is judged on audio it
never learned from.

By default 5 % of the pieces (at least 2, at most 20), spread over the source files. Step 2a cuts each sounding
region into pieces that overlap by 0.3 s, so a piece shares audio with its neighbours of the same region; such a
neighbour of a held-out piece (a *guard*) is left out of training too. Whether two consecutive pieces share audio
is read from the audio itself (the end of one is a scaled copy of the start of the next), and pieces that share
none with a neighbour are preferred, so the guards cost as little training audio as possible.

The split is written to ``logs/<name>/holdout.json`` and kept across resumes and one-click re-runs as long as
its pieces exist and the fraction asked is the same; ``holdout = 0`` turns it off (the evaluation then uses
training pieces, and says so).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rvc.core.experiment import Experiment
from rvc.core.files import write_json_atomic

logger = logging.getLogger(__name__)

HOLDOUT_FILE = "holdout.json"
MIN_HELD_OUT, MAX_HELD_OUT = 2, 20
MIN_PIECES = 10  # below this, every piece is needed for training: no split
OVERLAP_SECONDS = 0.3  # Step 2a's overlap between consecutive pieces of a region
SAME_AUDIO = 0.9999  # correlation above which two stretches are the same samples (float32 WAVs, rescaled)
_STEM = re.compile(r"(\d+)_(\d+)")


@dataclass(frozen=True)
class Split:
    """Which pieces (stems of ``0_gt_wavs/<stem>.wav``) are kept out of training, and why."""

    fraction: float
    held_out: tuple[str, ...] = ()
    guard: tuple[str, ...] = ()  # neighbours sharing audio with a held-out piece: out of training, not evaluated
    pieces: int = 0  # pieces there were when the split was made
    created: str = ""
    note: str = ""  # why there is no split, when there is none
    made_now: bool = field(default=False, compare=False)  # made by this run (not read back)

    @property
    def excluded(self) -> set[str]:
        return {*self.held_out, *self.guard}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("made_now")
        d["held_out"], d["guard"] = list(self.held_out), list(self.guard)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        return cls(
            fraction=float(d.get("fraction", 0.0)),
            held_out=tuple(str(s) for s in d.get("held_out", ())),
            guard=tuple(str(s) for s in d.get("guard", ())),
            pieces=int(d.get("pieces", 0)),
            created=str(d.get("created", "")),
            note=str(d.get("note", "")),
        )

    def describe(self) -> str:
        """One line for the page and the CLI."""
        if not self.held_out:
            return f"no held-out pieces ({self.note or 'turned off'}): the evaluation uses training pieces"
        guard = f"; {len(self.guard)} neighbour(s) sharing their audio also left out" if self.guard else ""
        return f"{len(self.held_out)} held-out piece(s), never trained on: {', '.join(self.held_out)}{guard}"


def held_out_count(pieces: int, fraction: float) -> int:
    """How many pieces to hold out of ``pieces``: ``fraction`` of them, within [2, 20]; none below 10 pieces."""
    if fraction <= 0 or pieces < MIN_PIECES:
        return 0
    return int(min(MAX_HELD_OUT, max(MIN_HELD_OUT, round(pieces * fraction))))


def shares_audio(a: Path, b: Path, sample_rate: int, overlap: float = OVERLAP_SECONDS) -> bool:
    """Whether piece ``b`` starts with the audio ``a`` ends with (Step 2a's overlap: each piece is its region's
    samples times a gain, so the shared stretch correlates to 1). A stretch too quiet to tell counts as shared."""
    from scipy.io import wavfile

    _, x = wavfile.read(a, mmap=True)
    _, y = wavfile.read(b, mmap=True)
    n = int(round(sample_rate * overlap))
    best = 0.0
    for m in (n - 1, n, n + 1):  # the pieces' integer bounds: the shared stretch is n ± 1 samples
        if m <= 0 or m > min(len(x), len(y)):
            continue
        u, v = np.asarray(x[-m:], np.float64), np.asarray(y[:m], np.float64)
        norm = float(np.linalg.norm(u) * np.linalg.norm(v))
        if norm < 1e-12:
            return True
        best = max(best, abs(float(u @ v)) / norm)
    return best > SAME_AUDIO


def _by_file(stems: Iterable[str]) -> dict[int, list[tuple[int, str]]]:
    files: dict[int, list[tuple[int, str]]] = {}
    for s in stems:
        m = _STEM.fullmatch(s)
        if m:
            files.setdefault(int(m.group(1)), []).append((int(m.group(2)), s))
    return {f: sorted(v) for f, v in sorted(files.items())}


def _neighbours(files: dict[int, list[tuple[int, str]]], gt_dir: Path, sr: int) -> dict[str, list[str]]:
    """For every piece, the consecutive pieces of its file that share audio with it."""
    shared: dict[str, list[str]] = {s: [] for pieces in files.values() for _, s in pieces}
    for pieces in files.values():
        for (j, a), (k, b) in zip(pieces, pieces[1:], strict=False):
            if k == j + 1 and shares_audio(gt_dir / f"{a}.wav", gt_dir / f"{b}.wav", sr):
                shared[a].append(b)
                shared[b].append(a)
    return shared


def choose(stems: list[str], fraction: float, gt_dir: Path, sample_rate: int, seed: int = 0) -> Split:
    """Picks the held-out pieces: round-robin over the source files (so every file is represented before any
    gives a second piece), in each file the piece whose neighbours would cost the least training audio."""
    n = held_out_count(len(stems), fraction)
    if n == 0:
        note = "turned off" if fraction <= 0 else f"only {len(stems)} pieces: all are needed for training"
        return Split(fraction, pieces=len(stems), note=note, created=_now(), made_now=True)
    files = _by_file(stems)
    shared = _neighbours(files, gt_dir, sample_rate)
    rng = random.Random(seed)
    queues = {f: rng.sample([s for _, s in pieces], len(pieces)) for f, pieces in files.items()}
    held: list[str] = []
    while len(held) < n and any(queues.values()):
        for queue in queues.values():
            if len(held) >= n or not queue:
                continue
            taken = set(held)
            # the cost of a piece: its sharing neighbours that are still in training
            queue.sort(key=lambda s: len([x for x in shared[s] if x not in taken]))
            held.append(queue.pop(0))
    guard = sorted({x for s in held for x in shared[s]} - set(held), key=_order)
    return Split(fraction, tuple(sorted(held, key=_order)), tuple(guard), len(stems), _now(), made_now=True)


def _order(stem: str) -> tuple[int, ...]:
    m = _STEM.fullmatch(stem)
    return (int(m.group(1)), int(m.group(2))) if m else (1 << 30,)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def read_split(experiment: Experiment) -> Split | None:
    """The recorded split, or None (never made, or unreadable)."""
    import json

    path = experiment.paths.root / HOLDOUT_FILE
    try:
        return Split.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def ensure_split(experiment: Experiment, stems: list[str], fraction: float, write: bool = True) -> Split:
    """The recorded split when it still fits (same fraction, its pieces all there), else a new one, recorded.

    A split that no longer fits (Step 2a re-run with other audio, another fraction asked) is replaced, with a
    warning: the evaluations before and after are not comparable."""
    old = read_split(experiment)
    available = set(stems)
    if old is not None and abs(old.fraction - fraction) < 1e-9 and set(old.excluded) <= available:
        if old.held_out or held_out_count(len(stems), fraction) == 0:
            return old
    split = choose(stems, fraction, experiment.paths.gt_wavs, experiment.config.sample_rate_hz)
    if old is not None and (old.held_out or split.held_out):
        logger.warning("the held-out set changed (%s): earlier evaluations are not comparable", split.describe())
    if write:  # one writer (rank 0 of a distributed job); the others make the same split from the same pieces
        write_json_atomic(experiment.paths.root / HOLDOUT_FILE, split.to_dict())
    return split
