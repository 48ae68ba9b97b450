"""What a small model exported from an experiment says of itself (its card): epoch, step, sample rate, version,
pitch guidance and the seconds of audio it was trained on; shared by the export, the final model of a training
and the best model the evaluation keeps."""

from __future__ import annotations

from typing import Any

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment


def model_card(experiment: Experiment, epoch: int, step: int) -> dict[str, Any]:
    """The ``info`` text and card keys of a small model exported from this experiment."""
    from rvc.models.package import CardFacts, card_fields
    from rvc.steps.extract import recorded_embedder
    from rvc.steps.preprocess import load_report

    try:
        seconds = load_report(experiment.paths).totals["kept_seconds"]
    except RvcError:
        seconds = None
    c = experiment.config
    facts = CardFacts(c.name, epoch, step, c.sample_rate, c.version, c.use_f0, seconds, recorded_embedder(experiment))
    return card_fields(facts)
