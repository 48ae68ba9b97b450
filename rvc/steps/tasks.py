"""The app's long steps as jobs: each kind of job is built from JSON-able parameters, so the same code starts a
new job and resumes one found interrupted after a restart. Progress goes to the job (fraction and text);
the result is summarised in one line. No Gradio here: ``app.py`` only collects the parameters."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment, ExperimentConfig, open_experiment
from rvc.core.options import SettingError, config_from
from rvc.jobs.registry import Job, job_progress

logger = logging.getLogger(__name__)
T = TypeVar("T")

KINDS = ("preprocess", "extract", "train", "index", "one-click")
# Job parameters are keyed by the config fields they set (ExperimentConfig, PreprocessConfig, ExtractConfig,
# TrainConfig; one-click takes all four, so ``workers`` and ``device`` reach every config that has them), plus
# ``name`` (the experiment) and ``dataset`` (the folder to preprocess). Records saved by earlier versions used
# these names; they are read through this table when such a job is resumed.
OLD_KEYS = {"segment": "segment_seconds", "cache_gpu": "cache_on_gpu", "compile_": "compile"}
PLAIN_KEYS = ("name", "dataset")


@dataclass(frozen=True)
class Places:
    logs_dir: Path
    weights_dir: Path


def work_for(kind: str, params: dict[str, Any], places: Places) -> Callable[[Job], Any]:
    """The function a job of ``kind`` runs.

    Raises:
        RvcError: an unknown kind. SettingError: a parameter no config of this kind has.
    """
    builders = {
        "preprocess": _preprocess,
        "extract": _extract,
        "train": _train,
        "index": _index,
        "one-click": _one_click,
    }
    if kind not in builders:
        raise RvcError(f"unknown job kind {kind!r}")
    known = {f.name for cls in _configs(kind) for f in dataclasses.fields(cls)} | set(PLAIN_KEYS)
    unknown = sorted(set(_settings(params)) - known)
    if unknown:
        raise SettingError(f"a {kind} job has no setting {', '.join(unknown)}")
    return lambda job: builders[kind](job, params, places)


def _configs(kind: str) -> list[type]:
    from rvc.steps.extract import ExtractConfig
    from rvc.steps.preprocess import PreprocessConfig
    from rvc.steps.train.config import TrainConfig

    configs: dict[str, list[type]] = {
        "preprocess": [PreprocessConfig],
        "extract": [ExtractConfig],
        "train": [TrainConfig],
        "index": [],
        "one-click": [ExperimentConfig, PreprocessConfig, ExtractConfig, TrainConfig],
    }
    return configs[kind]


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters by their config field names (old records' names translated)."""
    return {OLD_KEYS.get(k, k): v for k, v in params.items()}


def config_for(cls: type[T], params: dict[str, Any], **fixed: Any) -> T:
    """``cls`` from the parameters that name its fields (the one conversion: :func:`rvc.core.options.config_from`)."""
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in _settings(params).items() if k in fields and k not in fixed}
    return config_from(cls, values, **fixed)


def summary_for(kind: str) -> Callable[[Any], str]:
    def summary(result: Any) -> str:
        if result is None:
            return ""
        if kind in ("preprocess", "extract"):
            return result.summary()
        if kind == "train":
            text = (
                f"epoch {result.epoch}, step {result.step} (started from {result.started_from}); "
                f"small model: {result.small_model}"
            )
            if result.best is not None:
                text += f"; best: epoch {result.best_epoch}, {result.best.name}"
            return text + (f"; {result.stop_reason}" if result.stop_reason else "")
        if kind == "index":
            return f"{result.path.name}: {result.vectors} vectors from {result.rows} feature rows, IVF{result.n_lists}"
        return "; ".join(f"{o.stage} {o.status}" for o in result.stages) + f"; package: {result.package}"

    return summary


def _experiment(params: dict[str, Any], places: Places) -> Experiment:
    return open_experiment(params["name"], places.logs_dir)


def _train_config(params: dict[str, Any], places: Places) -> Any:
    from rvc.steps.train.config import TrainConfig

    return config_for(TrainConfig, params, weights_dir=places.weights_dir)


def _preprocess(job: Job, params: dict[str, Any], places: Places) -> Any:
    from rvc.steps.preprocess import PreprocessConfig, preprocess_dataset

    exp = _experiment(params, places)
    config = config_for(PreprocessConfig, params)
    return preprocess_dataset(exp, Path(params["dataset"]), config, job_progress(job), job.stop)


def _extract(job: Job, params: dict[str, Any], places: Places) -> Any:
    from rvc.steps.extract import ExtractConfig, extract

    return extract(_experiment(params, places), config_for(ExtractConfig, params), job_progress(job), job.stop)


def _train(job: Job, params: dict[str, Any], places: Places) -> Any:
    from rvc.steps.train.loop import train

    exp = _experiment(params, places)
    config = _train_config(params, places)

    result = train(exp, config, on_progress=job_progress(job), stop=job.stop)  # a log line per epoch (its stage)
    for w in result.warnings:
        job.say(f"warning: {w}")
    return result


def _index(job: Job, params: dict[str, Any], places: Places) -> Any:
    from rvc.steps.index import train_index

    return train_index(_experiment(params, places), on_progress=job_progress(job))


def _one_click(job: Job, params: dict[str, Any], places: Places) -> Any:
    from rvc.steps.extract import ExtractConfig
    from rvc.steps.oneclick import RunConfig, run
    from rvc.steps.preprocess import PreprocessConfig

    config = RunConfig(
        experiment=config_for(ExperimentConfig, params, name=params["name"]),
        dataset_dir=Path(params["dataset"]),
        preprocess=config_for(PreprocessConfig, params),
        extract=config_for(ExtractConfig, params),
        train=_train_config(params, places),
        weights_dir=places.weights_dir,
    )
    result = run(config, places.logs_dir, job_progress(job), job.stop)
    for o in result.stages:
        job.say(f"{o.stage}: {o.status} {o.detail}")
    return result


# --- what the pages show of an experiment --------------------------------------------------------------------


def dataset_health(experiment: Experiment, examples: int = 3) -> dict[str, Any]:
    """After Step 2a: totals, skipped files and why, warning counts, the loudness of every piece (dBFS, for a
    histogram) and a few pieces to listen to (the loudest, a middle one, the quietest)."""
    from rvc.audio.io import db
    from rvc.steps.preprocess import load_report

    report = load_report(experiment.paths)
    t = report.totals
    loud: list[tuple[float, Path]] = []
    for stem in sorted(s for f in report.files for s in f.stems):
        path = experiment.paths.wavs16k / f"{stem}.wav"
        x = _read_wav(path)
        rms = float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
        loud.append((float(db(rms)), path))
    warnings = [w for f in report.files for w in f.warnings]
    short = sum(1 for f in report.files if f.status == "skipped" and "short" in f.reason)
    quiet = sum(1 for v, _ in loud if v < -40)
    ordered = sorted(loud, key=lambda x: -x[0])
    picks = [ordered[0], ordered[len(ordered) // 2], ordered[-1]][:examples] if ordered else []
    return {
        "kept_seconds": t["kept_seconds"],
        "input_seconds": t["input_seconds"],
        "pieces": t["pieces"],
        "files": t["files"],
        "skipped": [(f.name, f.reason) for f in report.files if f.status == "skipped"],
        "clipped_files": sum(1 for w in warnings if w.startswith("clipped")),
        "quiet_pieces": quiet,
        "short_files": short,
        "filtered_pieces": t["filtered_pieces"],
        "loudness_db": [round(v, 1) for v, _ in loud],
        "examples": [p for _, p in dict.fromkeys(picks)],
    }


def _read_wav(path: Path) -> np.ndarray:
    from scipy.io import wavfile

    try:
        _, x = wavfile.read(path)
    except (OSError, ValueError):
        return np.zeros(0, np.float32)
    return x.astype(np.float32)
