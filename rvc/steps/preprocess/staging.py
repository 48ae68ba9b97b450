"""Where a run of Step 2a writes before it is done, and how its output replaces the previous one: the one place
in the steps that swaps folders (files are replaced through :mod:`rvc.core.files`). A folder is never deleted
in place: it is renamed into a trash folder first, so a kill at any instant leaves it whole somewhere, and the
next run's :func:`cleanup_leftovers` removes what an interrupted one left."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rvc.core.experiment import ExperimentPaths
from rvc.core.files import write_json_atomic, write_text_atomic
from rvc.steps.preprocess.report import PreprocessReport

STAGING_PREFIX = ".preprocess-staging-"
TRASH_PREFIX = ".preprocess-trash-"


def swap_folders(moves: list[tuple[Path | None, Path]], trash: Path) -> None:
    """For each ``(new, dest)``: ``dest`` (where it exists) goes into ``trash``, all of them first; then each
    ``new`` is renamed to its ``dest`` (``None``: the destination is only removed)."""
    for _, dest in moves:
        if dest.exists():
            os.replace(dest, trash / dest.name)
    for new, dest in moves:
        if new is not None:
            os.replace(new, dest)


def cleanup_leftovers(root: Path) -> None:
    """Removes staging and trash folders an interrupted run left in an experiment folder."""
    for child in root.iterdir() if root.is_dir() else []:
        if child.is_dir() and child.name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
            shutil.rmtree(child, ignore_errors=True)


def swap_in(paths: ExperimentPaths, staging: Path, report: PreprocessReport) -> None:
    """Replaces the previous output with the staged one. Order matters for a kill at any instant: the old report
    goes first (from then on nothing is marked complete), the new report last."""
    trash = paths.root / f"{TRASH_PREFIX}{report.run_id}"
    trash.mkdir()
    paths.preprocess_report.unlink(missing_ok=True)
    # later steps' outputs were made from the old pieces: they go too
    stale = [paths.f0_coarse, paths.f0_hz, paths.features("v1"), paths.features("v2")]
    new = [(staging / paths.gt_wavs.name, paths.gt_wavs), (staging / paths.wavs16k.name, paths.wavs16k)]
    swap_folders([*new, *((None, d) for d in stale)], trash)
    write_text_atomic(paths.preprocess_log, report.summary() + "\n")
    write_json_atomic(paths.preprocess_report, report.to_dict())
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
