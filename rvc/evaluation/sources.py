"""What a model is judged on, and the networks that judge it.

- An experiment: its held-out pieces (``1_16k_wavs/<stem>.wav``), or, with no held-out set, a few training
  pieces (the evaluation then says so); the training voice is the mean speaker embedding of up to
  ``VOICE_PIECES`` training pieces, spread over the set.
- A folder of recordings of the target voice (``--data``): every audio file at its top level, each both a piece
  and part of the voice.
- Probes: recordings of other voices, checked as every user-given recording is (audio, not silent, ≥ 1 s).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rvc.core.errors import EvaluationError
from rvc.core.experiment import Experiment
from rvc.evaluation.judge import Recording
from rvc.evaluation.recordings import load_recording

if TYPE_CHECKING:
    from rvc.content.hubert import Embedder
    from rvc.evaluation.speaker import SpeakerEncoder

VOICE_PIECES = 30  # training pieces whose mean embedding is "the training voice"
TRAINING_PIECES = 8  # pieces judged when there is no held-out set
MAX_SECONDS = 15.0  # a --data recording is judged on its first 15 s (the cost of a checkpoint stays bounded)


def spread(items: Sequence[str], n: int) -> list[str]:
    """``n`` of ``items`` evenly spaced (all when there are no more than ``n``)."""
    if len(items) <= n:
        return list(items)
    return [items[int(i * len(items) / n)] for i in range(n)]


def _piece(experiment: Experiment, stem: str) -> Recording:
    from scipy.io import wavfile

    _, x = wavfile.read(experiment.paths.wavs16k / f"{stem}.wav")
    return Recording(stem, np.asarray(x, np.float32))


def experiment_set(
    experiment: Experiment, stems: Sequence[str], held_out: Sequence[str], excluded: Collection[str]
) -> tuple[list[Recording], list[Recording], bool]:
    """``(pieces, voice, on_training_pieces)`` of an experiment whose ready pieces are ``stems``: the held-out
    pieces judged against the training voice, or (none held out) a few training pieces."""
    training = [s for s in stems if s not in set(excluded)]
    if not training:
        raise EvaluationError(f"experiment {experiment.name!r} has no training pieces to take the voice from")
    voice = [_piece(experiment, s) for s in spread(training, VOICE_PIECES)]
    if held_out:
        return [_piece(experiment, s) for s in held_out], voice, False
    return [_piece(experiment, s) for s in spread(training, TRAINING_PIECES)], voice, True


def folder_set(folder: Path) -> list[Recording]:
    """The recordings at the top level of ``folder`` (``--data``), each its first ``MAX_SECONDS``; a file that is
    not usable audio is an error (the user named this folder as the voice).

    Raises:
        EvaluationError: not a folder, no files, or a file that is not audio, silent or shorter than 1 s.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationError(f"{folder} is not a folder of recordings")
    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    if not files:
        raise EvaluationError(f"{folder} has no files at its top level (subfolders are not read)")
    return [Recording(f.name, load_recording(f, "recording")[: int(MAX_SECONDS * 16000)]) for f in files]


def load_probes(paths: Sequence[Path]) -> list[Recording]:
    """Each probe decoded at 16 kHz and checked (:func:`~rvc.evaluation.recordings.load_recording`)."""
    return [Recording(Path(p).name, load_recording(Path(p), "probe")) for p in paths]


def load_tools(embedder: str | Path | None, device: str = "cpu") -> tuple[Embedder, SpeakerEncoder]:
    """The content encoder (``embedder``: a name or a folder/.pt, default contentvec) and the GE2E speaker
    encoder, loaded once.

    Raises:
        WeightsError: a weight file is missing (offline) or does not match its checksum.
        EmbedderError: an unknown embedder name.
    """
    from rvc.content import embedders
    from rvc.content.hubert import load_embedder
    from rvc.evaluation.speaker import load_speaker_encoder

    choice = embedders.parse(str(embedder) if embedder else None) or embedders.EmbedderChoice(embedders.DEFAULT)
    return load_embedder(embedders.locate(choice), device), load_speaker_encoder(None, device)
