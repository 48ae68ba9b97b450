"""Export: the small inference model (``weights/<name>.pth``) from a training checkpoint and, when asked, the
``<name>.zip`` package people share (the small model and the experiment's feature index).

The one path for the command line's ``export``, one-click's last stage and the pages' "package" button.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rvc.core.experiment import Experiment
from rvc.steps.index import find_index

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS_DIR = Path("weights")


@dataclass(frozen=True)
class ExportResult:
    model: Path  # the small model
    index: Path | None  # the index packed into the zip (None: no zip, or no index yet)
    package: Path | None  # the zip (None: not asked for)
    best_package: Path | None = None  # the zip of <name>_best.pth, the best-scoring model, when training kept one

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if v is not None else None for k, v in self.__dict__.items()}


def export_model(
    experiment: Experiment,
    weights_dir: Path | None = None,
    checkpoint: Path | None = None,
    out: Path | None = None,
    zip: bool = False,
    index: Path | None = None,
) -> ExportResult:
    """Writes the small model of ``checkpoint`` (default: the newest) to ``out`` (default
    ``<weights_dir>/<name>.pth``, ``weights_dir`` defaulting to ``./weights``); with ``zip`` also ``<out>.zip``
    holding it and ``index`` (default: the experiment's own, :func:`~rvc.steps.index.find_index`).

    Raises:
        RvcError: no checkpoint yet; ModelFileError: the checkpoint does not fit the experiment's model.
    """
    from rvc.steps.train.loop import export

    out = Path(out) if out else Path(weights_dir or DEFAULT_WEIGHTS_DIR) / f"{experiment.name}.pth"
    model = export(experiment, checkpoint, out)
    if not zip:
        return ExportResult(model, None, None)
    return package_model(experiment, model, index)


def package_model(
    experiment: Experiment, model: Path, index: Path | None = None, out: Path | None = None
) -> ExportResult:
    """Zips an exported small model with ``index`` (default: the experiment's own, if it has one yet) into
    ``out`` (default: beside the model, ``<model stem>.zip``); when the training kept a best-scoring model beside
    it (``<model stem>_best.pth``), that one too, with the same index, as ``<model stem>_best.zip`` (one model
    per zip: what RVC WebUI and Applio import).

    Raises:
        ModelFileError: ``model`` is not a small model.
    """
    from rvc.models.package import export_package

    index = index or find_index(experiment)
    if index is None:
        logger.info("%s has no index yet: the zip holds the model only", experiment.name)
    zipped = export_package(Path(model), index, out)
    best = Path(model).with_name(f"{Path(model).stem}_best.pth")
    best_zipped = export_package(best, index, zipped.with_name(best.stem + ".zip")) if best.is_file() else None
    return ExportResult(Path(model), index, zipped, best_zipped)
