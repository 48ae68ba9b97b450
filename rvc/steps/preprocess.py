"""Step 2a: preprocessing a folder of recordings into the experiment's training pieces.

For every file at the top level of the dataset folder (sorted by name; subfolders are not read): FFmpeg decode
to mono float32 at the model rate, 48 Hz high-pass, silence slicing, ~3.7 s pieces with 0.3 s overlap,
volume normalisation, then ``0_gt_wavs/<i>_<j>.wav`` (model rate) and ``1_16k_wavs/<i>_<j>.wav`` (16 kHz),
float32 WAV; ``<i>`` is the file's position in the sorted listing and ``<j>`` counts its pieces.

A run writes into a staging folder and swaps it in only when every file is done, so the experiment always
holds the previous complete output or none; ``preprocess.json`` (the report) is written last and marks the
output complete. Later steps call :func:`load_report`, which refuses anything else.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rvc.audio.io import db, decode_audio, resample, write_wav_float32
from rvc.audio.slicer import SlicerParams, slice_regions
from rvc.core.errors import AudioDecodeError, Cancelled, DatasetError, IncompleteStepError
from rvc.core.experiment import Experiment, ExperimentPaths, write_json_atomic
from rvc.core.locking import experiment_lock
from rvc.core.options import SettingError, option
from rvc.core.workers import init_worker, mp_context

logger = logging.getLogger(__name__)

REPORT_FORMAT = 1
STAGING_PREFIX = ".preprocess-staging-"
TRASH_PREFIX = ".preprocess-trash-"
HPF_CUTOFF_HZ = 48.0
HPF_ORDER = 5
NORM_MAX = 0.9
NORM_ALPHA = 0.75


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of Step 2a (reference values by default)."""

    # 3.0 is the reference's choice for fp32 / small GPUs
    segment_seconds: float = option(
        3.7, "piece length in seconds ({default} default, 3.0 for small GPUs)", minimum=1.0, maximum=10.0
    )
    overlap_seconds: float = 0.3
    workers: int | None = option(None, "worker processes (default: all cores)", minimum=1)  # None: all cores
    min_file_seconds: float = 0.5
    max_peak: float = 2.5  # pieces louder than this (before normalisation) are dropped, as in the reference
    slicer: SlicerParams = field(default_factory=SlicerParams)

    def __post_init__(self) -> None:
        if not 1.0 <= self.segment_seconds <= 10.0:
            raise SettingError(f"segment length must be between 1.0 and 10.0 s, not {self.segment_seconds}")
        if not 0.0 <= self.overlap_seconds < self.segment_seconds / 2:
            raise SettingError(f"overlap must be between 0 and half the segment length, not {self.overlap_seconds}")
        if self.workers is not None and self.workers < 1:
            raise SettingError(f"workers must be at least 1, not {self.workers}")


@dataclass
class FileResult:
    """What happened to one input file."""

    index: int
    name: str
    status: Literal["ok", "skipped"]
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # duration of the decoded input
    pieces: int = 0
    piece_seconds: float = 0.0  # audio in the pieces written (overlaps counted once)
    filtered_pieces: int = 0  # pieces dropped for a peak above max_peak
    stems: list[str] = field(default_factory=list)


@dataclass
class PreprocessReport:
    """The report saved as ``logs/<name>/preprocess.json``."""

    run_id: str
    experiment: str
    dataset: str
    sample_rate: int
    settings: dict[str, Any]
    started: str
    finished: str
    wall_seconds: float
    files: list[FileResult]
    ignored_folders: list[str]
    format: int = REPORT_FORMAT

    @property
    def totals(self) -> dict[str, Any]:
        ok = [f for f in self.files if f.status == "ok"]
        return {
            "files": len(self.files),
            "processed": len(ok),
            "skipped": len(self.files) - len(ok),
            "input_seconds": round(sum(f.seconds for f in self.files), 3),
            "kept_seconds": round(sum(f.piece_seconds for f in ok), 3),
            "pieces": sum(f.pieces for f in ok),
            "filtered_pieces": sum(f.filtered_pieces for f in ok),
            "warnings": sum(len(f.warnings) for f in self.files),
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["totals"] = self.totals
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessReport:
        d = {k: v for k, v in d.items() if k != "totals"}
        d["files"] = [FileResult(**f) for f in d["files"]]
        return cls(**d)

    def summary(self) -> str:
        """A few human-readable lines: totals, then one line per skipped or warned file."""
        t = self.totals
        lines = [
            f"{t['processed']} of {t['files']} files processed, {t['skipped']} skipped; "
            f"{t['pieces']} pieces, {t['kept_seconds']:.1f} s kept of {t['input_seconds']:.1f} s "
            f"({self.wall_seconds:.1f} s wall)"
        ]
        for f in self.files:
            if f.status == "skipped":
                lines.append(f"skipped {f.name}: {f.reason}")
            for w in f.warnings:
                lines.append(f"warning {f.name}: {w}")
        if self.ignored_folders:
            lines.append(f"subfolders not read: {', '.join(self.ignored_folders)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Progress:
    """Reported each time a file completes."""

    done: int
    total: int
    result: FileResult


@dataclass(frozen=True)
class _Task:
    index: int
    name: str
    path: str
    sample_rate: int
    gt_dir: str
    wav16_dir: str
    config: PreprocessConfig


class NothingUsableError(DatasetError):
    """No file of the dataset gave a usable piece; carries the report of what was tried."""

    def __init__(self, message: str, report: PreprocessReport) -> None:
        super().__init__(message)
        self.report = report


# --- signal processing -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _highpass_sos(sample_rate: int) -> np.ndarray:
    from scipy import signal

    return signal.butter(HPF_ORDER, HPF_CUTOFF_HZ, btype="high", fs=sample_rate, output="sos")


def highpass(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """5th-order 48 Hz Butterworth high-pass, causal.

    Causal (``lfilter``-style), as the reference trains, not the zero-phase ``filtfilt`` the product doc names:
    every published RVC model and pretrained G/D was trained on causally filtered audio, and a zero-phase
    filter rings *before* each transient (the reason the reference reverted it); it also costs two passes.
    Second-order sections give the same filter as the reference's (b, a) form with better numerical stability
    at this low cutoff.
    """
    from scipy import signal

    return signal.sosfilt(_highpass_sos(sample_rate), x).astype(np.float32, copy=False)


def segment_bounds(length: int, sample_rate: int, segment: float = 3.7, overlap: float = 0.3) -> list[tuple[int, int]]:
    """Pieces of a slice of ``length`` samples: ``segment`` s long, each starting ``segment - overlap`` s after
    the previous one; once at most ``segment + overlap`` s remain, that remainder is the last piece (the tail),
    so tails are (2·overlap, segment + overlap] s long and every sample is in some piece."""
    tail = segment + overlap
    piece = int(sample_rate * segment)
    bounds = []
    i = 0
    while True:
        start = int(sample_rate * (segment - overlap) * i)
        if length - start > tail * sample_rate:
            bounds.append((start, start + piece))
            i += 1
        else:
            bounds.append((start, length))
            return bounds


def normalize(x: np.ndarray, max_peak: float = 2.5) -> np.ndarray | None:
    """``0.675·x/max|x| + 0.25·x`` (the reference's max 0.9, alpha 0.75), or None for a piece to drop: peak
    above ``max_peak``, zero, or not finite."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if not np.isfinite(peak) or peak <= 0.0 or peak > max_peak:
        return None
    return (x * np.float32(NORM_MAX * NORM_ALPHA / peak) + np.float32(1 - NORM_ALPHA) * x).astype(np.float32)


# --- one file (runs in a worker process) -------------------------------------------------------------------


def process_file(task: _Task) -> FileResult:
    """Decodes, filters, slices, cuts and writes one input file. Never raises for bad input: the reason ends up
    in the returned result."""
    result = FileResult(index=task.index, name=task.name, status="skipped")
    try:
        _process(task, result)
    except AudioDecodeError as e:
        result.reason = str(e)
    except PermissionError:
        result.reason = "no permission to read the file"
    except MemoryError:
        result.reason = "too large to fit in memory"
    except Exception as e:  # a bug must not lose the other files' work: report it and go on
        logger.exception("unexpected error on %s", task.name)
        result.reason = f"unexpected error: {type(e).__name__}: {e}"
    if result.status != "ok":
        result.pieces, result.stems, result.piece_seconds = 0, [], 0.0
    return result


def _process(task: _Task, result: FileResult) -> None:
    cfg, sr = task.config, task.sample_rate
    audio = decode_audio(Path(task.path), sr)
    result.seconds = round(audio.source_seconds, 3)
    result.warnings.extend(audio.warnings)
    x = audio.samples
    if audio.nonfinite:
        result.reason = f"contains {audio.nonfinite} NaN/Inf sample(s): the file is damaged"
        return
    if audio.source_seconds < cfg.min_file_seconds:
        result.reason = f"too short ({audio.source_seconds:.2f} s; the minimum is {cfg.min_file_seconds} s)"
        return
    if audio.clipped >= 0.001:
        result.warnings.append(f"clipped: {audio.clipped:.1%} of samples at full scale (distortion will be learned)")
    x = highpass(x, sr)
    regions = slice_regions(x, sr, cfg.slicer)
    if not regions:
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        result.reason = (
            f"silence only (peak {db(peak):.0f} dBFS, nothing above the {cfg.slicer.threshold_db:.0f} dB threshold)"
        )
        return
    covered = 0  # samples in at least one written piece
    for lo, hi in regions:
        chunk, end = x[lo:hi], 0
        for a, b in segment_bounds(len(chunk), sr, cfg.segment_seconds, cfg.overlap_seconds):
            piece = normalize(chunk[a:b], cfg.max_peak)
            if piece is None:
                result.filtered_pieces += 1
                continue
            stem = f"{task.index}_{len(result.stems)}"  # numbered after each write: no piece overwrites another
            write_wav_float32(Path(task.gt_dir) / f"{stem}.wav", piece, sr)
            write_wav_float32(Path(task.wav16_dir) / f"{stem}.wav", resample(piece, sr, 16000), 16000)
            result.stems.append(stem)
            covered += b - max(a, end)
            end = b
    result.pieces = len(result.stems)
    result.piece_seconds = round(covered / sr, 3)
    if not result.stems:
        result.reason = f"every piece was dropped: peak above {cfg.max_peak} (extreme level or damaged audio)"
        return
    result.status = "ok"


# --- the dataset -------------------------------------------------------------------------------------------


def _within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def list_dataset(dataset_dir: Path) -> tuple[list[tuple[int, str, Path]], list[FileResult], list[str]]:
    """The top-level files of a dataset folder.

    Returns ``(inputs, skipped, folders)``: ``(index, name, path)`` for each file to decode, results for the
    entries refused up front (links leading outside the folder, hidden files, unreadable entries), and the names
    of the subfolders, which are not read. Indices follow ``sorted(os.listdir())`` over files, as in the reference.

    Raises:
        DatasetError: the folder is missing, is a file, or cannot be read.
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.exists():
        raise DatasetError(f"Dataset folder not found: {dataset_dir}")
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir} is a file, not a folder: give the folder that holds your recordings")
    try:
        names = sorted(os.listdir(dataset_dir))
    except PermissionError as e:
        raise DatasetError(f"No permission to read the dataset folder {dataset_dir}") from e
    except OSError as e:
        raise DatasetError(f"Cannot read the dataset folder {dataset_dir}: {e.strerror or e}") from e
    root = dataset_dir.resolve()
    inputs: list[tuple[int, str, Path]] = []
    skipped: list[FileResult] = []
    folders: list[str] = []
    index = 0
    for name in names:
        path = dataset_dir / name
        if path.is_dir():
            if path.is_symlink() and not _within(path.resolve(), root):
                continue
            folders.append(name)
            continue
        reason = ""
        if path.is_symlink():
            target = path.resolve()
            if not _within(target, root):
                reason = f"symbolic link leading outside the dataset folder (to {target}); not read"
            elif not target.exists():
                reason = "broken symbolic link"
        elif not path.exists():
            reason = "vanished while listing"
        if not reason and name.startswith("."):
            reason = "hidden file; not read"
        if reason:
            skipped.append(FileResult(index=index, name=name, status="skipped", reason=reason))
        else:
            inputs.append((index, name, path))
        index += 1
    return inputs, skipped, folders


def collect_uploads(files: list[Path], dest: Path) -> Path:
    """Copies uploaded files flat into ``dest`` (replacing what an earlier upload left there) and returns it.

    Only each file's own name is kept (no folders, so nothing can land outside ``dest``); equal names get a
    numeric suffix. The copy goes to a temporary folder first and is swapped in whole.
    """
    if not files:
        raise DatasetError("No files were uploaded: choose audio files or a folder to upload")
    tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        for src in map(Path, files):
            name = src.name.replace("\\", "_") or "upload"
            target = tmp / name
            n = 1
            while target.exists():
                target = tmp / f"{Path(name).stem}_{n}{Path(name).suffix}"
                n += 1
            shutil.copyfile(src, target)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _run_tasks(
    tasks: list[_Task],
    workers: int,
    on_result: Callable[[FileResult], None],
    stop: threading.Event | None,
) -> None:
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            if stop is not None and stop.is_set():
                raise Cancelled("Preprocessing stopped; the previous output was kept")
            on_result(process_file(task))
        return
    with cf.ProcessPoolExecutor(workers, mp_context=mp_context([__name__]), initializer=init_worker) as pool:
        pending = {pool.submit(process_file, t) for t in tasks}
        try:
            while pending:
                done, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    on_result(fut.result())
                if stop is not None and stop.is_set():
                    raise Cancelled("Preprocessing stopped; the previous output was kept")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def cleanup_leftovers(root: Path) -> None:
    """Removes staging and trash folders an interrupted run left in an experiment folder."""
    for child in root.iterdir() if root.is_dir() else []:
        if child.is_dir() and child.name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
            shutil.rmtree(child, ignore_errors=True)


def _swap_in(paths: ExperimentPaths, staging: Path, report: PreprocessReport) -> None:
    """Replaces the previous output with the staged one. Order matters for a kill at any instant: the old
    report goes first (from then on nothing is marked complete), the new report last."""
    trash = paths.root / f"{TRASH_PREFIX}{report.run_id}"
    trash.mkdir()
    paths.preprocess_report.unlink(missing_ok=True)
    # Later steps' outputs were made from the old pieces: they go too.
    stale = [paths.gt_wavs, paths.wavs16k, paths.f0_coarse, paths.f0_hz, paths.features("v1"), paths.features("v2")]
    for d in stale:
        if d.exists():
            os.replace(d, trash / d.name)
    os.replace(staging / paths.gt_wavs.name, paths.gt_wavs)
    os.replace(staging / paths.wavs16k.name, paths.wavs16k)
    _write_log(paths.preprocess_log, report)
    write_json_atomic(paths.preprocess_report, report.to_dict())
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def _write_log(path: Path, report: PreprocessReport) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(report.summary() + "\n", encoding="utf-8")
    os.replace(tmp, path)


def preprocess_dataset(
    experiment: Experiment,
    dataset_dir: Path,
    config: PreprocessConfig | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> PreprocessReport:
    """Runs Step 2a on ``dataset_dir`` for ``experiment`` and returns the saved report.

    Args:
        on_progress: called in this thread each time a file completes.
        stop: when set, the run stops at the next file boundary and raises :class:`Cancelled`.
    Raises:
        DatasetError: the folder is unusable, or :class:`NothingUsableError` when no file gave a piece.
        ExperimentBusyError: another job runs on this experiment.
        Cancelled: ``stop`` was set. In every error case the previous output is left as it was.
    """
    config = config or PreprocessConfig()
    paths = experiment.paths
    dataset_dir = Path(dataset_dir)
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    inputs, skipped, folders = list_dataset(dataset_dir)
    if not inputs and not skipped:
        raise DatasetError(f"The dataset folder {dataset_dir} has no files at its top level (subfolders are not read)")
    sr = experiment.config.sample_rate_hz
    with experiment_lock(paths.lock, "preprocessing"):
        cleanup_leftovers(paths.root)
        run_id = uuid.uuid4().hex[:12]
        staging = paths.root / f"{STAGING_PREFIX}{run_id}"
        gt_dir, wav16_dir = staging / paths.gt_wavs.name, staging / paths.wavs16k.name
        gt_dir.mkdir(parents=True)
        wav16_dir.mkdir()
        try:
            tasks = [_Task(i, n, str(p), sr, str(gt_dir), str(wav16_dir), config) for i, n, p in inputs]
            results: list[FileResult] = []
            total = len(inputs) + len(skipped)

            def on_result(r: FileResult) -> None:
                results.append(r)
                logger.info(
                    "[%d/%d] %s: %s", len(results), total, r.name, f"{r.pieces} pieces" if r.pieces else r.reason
                )
                if on_progress is not None:
                    on_progress(Progress(len(results), total, r))

            for r in skipped:
                on_result(r)
            workers = min(config.workers or os.cpu_count() or 1, max(1, len(tasks)))
            _run_tasks(tasks, workers, on_result, stop)
            results.sort(key=lambda r: r.index)
            report = PreprocessReport(
                run_id=run_id,
                experiment=experiment.name,
                dataset=str(dataset_dir.resolve()),
                sample_rate=sr,
                settings={**asdict(config), "workers": workers},
                started=started.isoformat(timespec="seconds"),
                finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                wall_seconds=round(time.monotonic() - t0, 3),
                files=results,
                ignored_folders=folders,
            )
            if report.totals["pieces"] == 0:
                raise NothingUsableError(
                    f"No usable audio in {dataset_dir}: every file was skipped. "
                    + report.summary().replace("\n", "; "),
                    report,
                )
            _swap_in(paths, staging, report)
            return report
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def load_report(paths: ExperimentPaths) -> PreprocessReport:
    """The report of the last complete preprocessing run, after checking that its pieces are all on disk.

    Raises:
        IncompleteStepError: never run, interrupted, or its output was changed since.
    """
    if not paths.preprocess_report.is_file():
        raise IncompleteStepError(
            "The dataset is not preprocessed (or the last run was interrupted): run Step 2a first"
        )
    try:
        report = PreprocessReport.from_dict(json.loads(paths.preprocess_report.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise IncompleteStepError(
            f"The preprocessing report {paths.preprocess_report} is damaged: run Step 2a again"
        ) from e
    expected = {s for f in report.files for s in f.stems}
    for d in (paths.gt_wavs, paths.wavs16k):
        found = {p.stem for p in d.glob("*.wav")} if d.is_dir() else set()
        if found != expected:
            raise IncompleteStepError(
                f"{d.name}/ does not match the last preprocessing report ({len(found)} pieces on disk, "
                f"{len(expected)} expected): run Step 2a again"
            )
    return report
