"""Evaluating trained models outside training (``python -m rvc eval`` / ``compare``, the app's A/B panel): each
model converts an experiment's held-out pieces (or a folder of recordings of its voice) and the probes, and
:mod:`rvc.evaluation` measures the results; several models are ranked by their score, best first."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rvc.core.config import DEVICES
from rvc.core.errors import EvaluationError, ModelFileError, RvcError
from rvc.core.experiment import Experiment
from rvc.core.options import option
from rvc.evaluation.judge import Evaluation, Judge, converter_fn, fit_length
from rvc.pitch.methods import F0_METHODS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    """How a model is converted for its evaluation (transpose 0; the rest as ``infer`` does)."""

    f0_method: str | None = option(
        None, "pitch method of the conversion (default: the experiment's, else rmvpe)", choices=F0_METHODS
    )
    index: Path | None = option(None, "the feature index to convert with (default: none)")
    embedder: str | None = option(
        None, "the judge's content encoder: a name or a folder/.pt (default: the experiment's, else contentvec)"
    )
    device: str = option("auto", "auto, cpu or cuda", choices=DEVICES)
    probes: tuple[Path, ...] = option((), "a recording of another voice (repeatable)")


@dataclass
class Ranked:
    model: Path
    evaluation: Evaluation


def check_model(model: Path, experiment: Experiment | None) -> None:
    """Refuses, before any work, a file that is not a small model, or one of another kind than the experiment's.

    Raises:
        EvaluationError: not a small RVC model, or another version, sample rate or pitch guidance.
    """
    from rvc.models.package import read_card

    try:
        card = read_card(Path(model))
    except ModelFileError as e:
        raise EvaluationError(f"{Path(model).name} cannot be evaluated: {e}") from e
    if experiment is None:
        return
    c = experiment.config
    wanted = (c.version, c.sample_rate, c.use_f0)
    if (card.version, card.sample_rate, card.f0) != wanted:
        raise EvaluationError(
            f"{Path(model).name} is a {card.sample_rate} {card.version} model "
            f"{'with' if card.f0 else 'without'} pitch; experiment {experiment.name!r} is {c.sample_rate} "
            f"{c.version} {'with' if c.use_f0 else 'without'} pitch: evaluate it with --data instead"
        )


def make_judge(experiment: Experiment | None, data: Path | None, config: EvalConfig) -> tuple[Judge, str | None]:
    """The judge of an experiment's held-out pieces or of a folder of recordings, and the pitch method to convert
    with (the experiment's own, unless one is asked)."""
    from rvc.evaluation.sources import experiment_set, folder_set, load_probes, load_tools
    from rvc.nn.devices import resolve_device

    if (experiment is None) == (data is None):
        raise EvaluationError("give either an experiment (--experiment) or a folder of recordings (--data)")
    probes = load_probes(config.probes)
    embedder_path: str | Path | None = config.embedder
    method = config.f0_method
    version = "v2"
    if experiment is not None:
        from rvc.steps.extract import settings_used
        from rvc.steps.train.data import ready_stems
        from rvc.steps.train.holdout import read_split

        used, used_method = settings_used(experiment)
        embedder_path, method = embedder_path or used, method or used_method
        split = read_split(experiment)
        held, excluded = (split.held_out, split.excluded) if split else ((), set())
        pieces, voice, on_training = experiment_set(experiment, ready_stems(experiment), held, excluded)
        version = experiment.config.version
    else:
        assert data is not None
        pieces = voice = folder_set(data)
        on_training = False
    embedder, encoder = load_tools(embedder_path, resolve_device(config.device))
    judge = Judge(
        pieces, voice, probes, embedder=embedder, encoder=encoder, version=version, on_training_pieces=on_training
    )
    return judge, method


def evaluate_models(
    models: Sequence[Path],
    experiment: Experiment | None,
    data: Path | None,
    config: EvalConfig,
    on_model: Callable[[Path, Evaluation], None] | None = None,
) -> list[Ranked]:
    """Every model judged on the same pieces and probes, best score first.

    Raises:
        EvaluationError: a model of the wrong kind, a probe or recording that is not usable, no pieces.
    """
    from rvc.inference.config import ConvertConfig
    from rvc.inference.converter import Converter

    for m in models:
        check_model(Path(m), experiment)
    judge, method = make_judge(experiment, data, config)
    ranked = []
    for m in models:
        cfg = ConvertConfig(
            f0_method=method or "rmvpe", index=config.index, index_rate=0.75 if config.index else 0.0,
            embedder=_convert_embedder(Path(m), judge.embedder.source), device=config.device,
        )  # fmt: skip
        converter = Converter(Path(m), cfg, embedder=judge.embedder)
        evaluation = judge.judge(converter_fn(converter))
        ranked.append(Ranked(Path(m), evaluation))
        if on_model:
            on_model(Path(m), evaluation)
    return sorted(ranked, key=lambda r: -r.evaluation.score)


def _convert_embedder(model: Path, judge_embedder: Path | None) -> str | None:
    """What a model converts with in an evaluation: its own embedder, or the judge's files when the model was
    trained with a custom one, records none, or is a training checkpoint of the experiment (A/B)."""
    from rvc.content.embedders import CUSTOM, canonical
    from rvc.models.package import read_card

    try:
        own = canonical(read_card(model).embedder)
    except ModelFileError:  # a G_*.pth: the experiment's, made with the judge's embedder
        own = None
    return str(judge_embedder) if judge_embedder is not None and own in (None, CUSTOM) else None


# --- A/B: one piece, two checkpoints -----------------------------------------------------------------------


@dataclass
class ABResult:
    original: np.ndarray  # the piece, 16 kHz
    converted: list[tuple[np.ndarray, dict[str, Any]]]  # per model: its conversion (16 kHz) and its metrics


def ab_choices(experiment: Experiment, weights_dir: Path) -> tuple[list[str], list[Path]]:
    """The pieces to listen to (the held-out ones, else a few training pieces) and the checkpoints to compare:
    the experiment's training checkpoints (newest first) and its exported small models."""
    from rvc.evaluation.sources import TRAINING_PIECES, spread
    from rvc.models.checkpoint import checkpoint_pairs
    from rvc.steps.train.data import ready_stems
    from rvc.steps.train.holdout import read_split

    split = read_split(experiment)
    try:
        stems = ready_stems(experiment)
    except RvcError:
        stems = []
    pieces = list(split.held_out) if split and split.held_out else spread(stems, TRAINING_PIECES)
    checkpoints = [g for g, _ in checkpoint_pairs(experiment.paths.root)]
    exported = sorted(Path(weights_dir).glob(f"{experiment.name}*.pth"), key=lambda p: p.stat().st_mtime, reverse=True)
    return pieces, [*exported, *checkpoints]


def ab_compare(
    experiment: Experiment, piece: str, models: Sequence[Path], config: EvalConfig | None = None
) -> ABResult:
    """``piece`` converted by each of ``models`` (small models or training checkpoints ``G_*.pth``), with each
    conversion's metrics against the original.

    Raises:
        EvaluationError: the piece does not exist; ModelFileError: a file is not a generator of this experiment.
    """
    from rvc.evaluation.sources import experiment_set, load_tools
    from rvc.inference.config import ConvertConfig
    from rvc.inference.converter import Converter
    from rvc.nn.devices import resolve_device
    from rvc.steps.extract import settings_used
    from rvc.steps.train.data import ready_stems
    from rvc.steps.train.holdout import read_split

    config = config or EvalConfig()
    stems = ready_stems(experiment)
    if piece not in stems:
        raise EvaluationError(f"experiment {experiment.name!r} has no piece {piece!r}")
    split = read_split(experiment)
    excluded = split.excluded if split else set()
    _, voice, _ = experiment_set(experiment, stems, (), excluded)
    [original], _, _ = experiment_set(experiment, [piece, *stems], [piece], excluded | {piece})
    embedder_path, method = settings_used(experiment)
    embedder, encoder = load_tools(config.embedder or embedder_path, resolve_device(config.device))
    judge = Judge([original], voice, [], embedder=embedder, encoder=encoder, version=experiment.config.version)
    converted = []
    for model in models:
        cfg = ConvertConfig(
            f0_method=config.f0_method or method or "rmvpe", index_rate=0.0, device=config.device,
            embedder=_convert_embedder(Path(model), embedder.source),
        )  # fmt: skip
        convert = converter_fn(Converter(Path(model), cfg, embedder=embedder))
        out = fit_length(convert(original.audio), len(original.audio))
        converted.append((out, judge.piece_metrics(original, out)))
    return ABResult(original.audio, converted)
