"""A run of Step 2a: every file through a worker into a staging folder, which is swapped in only when every file
is done, so the experiment always holds the previous complete output or none; the report is written last."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from rvc.core.errors import Cancelled, DatasetError
from rvc.core.experiment import Experiment
from rvc.core.locking import experiment_lock
from rvc.core.progress import Progress, ProgressFn
from rvc.core.workers import init_worker, mp_context
from rvc.steps.preprocess.config import PreprocessConfig
from rvc.steps.preprocess.dataset import list_dataset
from rvc.steps.preprocess.pieces import FileTask, process_file
from rvc.steps.preprocess.report import FileResult, NothingUsableError, PreprocessReport
from rvc.steps.preprocess.staging import STAGING_PREFIX, cleanup_leftovers, swap_in

logger = logging.getLogger(__name__)

STAGE = "preprocess"


def _run_tasks(
    tasks: list[FileTask],
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
    ctx = mp_context([process_file.__module__])
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker) as pool:
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


def _reporter(total: int, results: list[FileResult], on_progress: ProgressFn | None) -> Callable[[FileResult], None]:
    """Collects each file's result as it completes, logs it and reports it."""

    def on_result(r: FileResult) -> None:
        results.append(r)
        done = len(results)
        logger.info("[%d/%d] %s: %s", done, total, r.name, f"{r.pieces} pieces" if r.pieces else r.reason)
        if on_progress is not None:
            on_progress(Progress(STAGE, done, total, f"{done}/{total} files: {r.name}", r))

    return on_result


def preprocess_dataset(
    experiment: Experiment,
    dataset_dir: Path,
    config: PreprocessConfig | None = None,
    on_progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> PreprocessReport:
    """Runs Step 2a on ``dataset_dir`` for ``experiment`` and returns the saved report.

    Args:
        on_progress: called in this thread each time a file completes: stage ``preprocess``, files done of all,
            the file's :class:`FileResult` as the detail.
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
            tasks = [FileTask(i, n, str(p), sr, str(gt_dir), str(wav16_dir), config) for i, n, p in inputs]
            results: list[FileResult] = []
            on_result = _reporter(len(inputs) + len(skipped), results, on_progress)
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
                summary = report.summary().replace("\n", "; ")
                raise NothingUsableError(f"No usable audio in {dataset_dir}: every file was skipped. {summary}", report)
            swap_in(paths, staging, report)
            return report
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
