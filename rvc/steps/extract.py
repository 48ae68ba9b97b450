"""Step 2b: pitch and content features for every preprocessed piece.

For each ``1_16k_wavs/<stem>.wav``:
- with pitch guidance, ``2a_f0/<stem>.wav.npy`` (coarse pitch, int64 1..255) and ``2b-f0nsf/<stem>.wav.npy``
  (F0 in Hz, float64, 0 = unvoiced), 100 frames/s;
- ``3_feature256/<stem>.npy`` (v1) or ``3_feature768/<stem>.npy`` (v2): float32 ``[T, dim]``, 50 frames/s.

Every output file is written to a temporary name and renamed, so an interrupted run leaves only whole files:
a re-run keeps them and computes the rest. ``extract.json`` records the settings; when the pitch method or the
embedder changes, the outputs made with the old one are recomputed.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rvc.audio.io import read_plain_wav
from rvc.content import embedders
from rvc.core.config import DEVICES
from rvc.core.errors import Cancelled, RvcError
from rvc.core.experiment import Experiment
from rvc.core.files import save_npy_atomic, write_json_atomic
from rvc.core.locking import experiment_lock
from rvc.core.options import option
from rvc.core.progress import Progress, ProgressFn, no_progress
from rvc.core.workers import init_worker, mp_context
from rvc.nn.devices import resolve_device
from rvc.pitch.methods import F0_METHODS, METHOD_WEIGHTS, PitchError, coarse_f0, make_estimator, method_status
from rvc.steps.preprocess import load_report

logger = logging.getLogger(__name__)

REPORT_FILE = "extract.json"
CPU_METHODS = ("pm", "harvest", "dio")


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of Step 2b."""

    f0_method: str = option("rmvpe", "pitch method (default {default})", choices=F0_METHODS)
    # a HuBERT folder or .pt; default: the registry's hubert_base (downloaded)
    embedder: Path | None = option(None, "HuBERT/ContentVec folder or .pt (default: hubert_base)")
    rmvpe: Path | None = option(None, "rmvpe.pt to use (default: the downloaded one)")
    workers: int | None = option(None, "processes for pm/harvest/dio (default: all cores)", minimum=1)
    device: str = option("auto", "auto, cpu or cuda (default {default})", choices=DEVICES)  # or cuda:N
    batch_seconds: float | None = (
        None  # audio per HuBERT batch; None: one piece at a time on CPU (faster there), 64 s on GPU
    )
    stages: tuple[str, ...] = ("pitch", "features")  # a re-run can redo one of them only


@dataclass
class PieceResult:
    stem: str
    f0_frames: int = 0
    voiced: float = 0.0  # fraction of voiced pitch frames
    feature_frames: int = 0
    skipped: str = ""  # why this piece has no output (empty when it has)


@dataclass
class ExtractReport:
    experiment: str
    preprocess_run: str
    version: str
    use_f0: bool
    f0_method: str | None
    embedder: str
    device: str
    pieces: list[PieceResult]
    seconds: dict[str, float]  # wall time per stage
    started: str
    finished: str
    complete: bool = True
    embedder_name: str = "contentvec"  # the registry name (Applio's embedder_model) or "custom"

    @property
    def totals(self) -> dict[str, Any]:
        ok = [p for p in self.pieces if not p.skipped]
        voiced = [p.voiced for p in ok if p.f0_frames]
        return {
            "pieces": len(self.pieces),
            "done": len(ok),
            "skipped": len(self.pieces) - len(ok),
            "f0_frames": sum(p.f0_frames for p in ok),
            "feature_frames": sum(p.feature_frames for p in ok),
            "voiced_ratio": round(float(np.mean(voiced)), 4) if voiced else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "totals": self.totals}

    def summary(self) -> str:
        t = self.totals
        lines = [f"{t['done']} of {t['pieces']} pieces extracted, {t['skipped']} skipped"]
        if self.use_f0:
            lines[0] += f"; pitch ({self.f0_method}): {t['f0_frames']} frames, {t['voiced_ratio'] or 0:.0%} voiced"
        lines[0] += f"; features ({self.version}, embedder {self.embedder_name}): {t['feature_frames']} frames"
        lines.append("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()))
        lines += [f"skipped {p.stem}: {p.skipped}" for p in self.pieces if p.skipped]
        return "\n".join(lines)


# --- files ---------------------------------------------------------------------------------------------------


def _clear_temporaries(folder: Path) -> None:
    for p in folder.glob(".*.tmp-*") if folder.is_dir() else []:
        p.unlink(missing_ok=True)


def read_16k(path: Path) -> np.ndarray:
    """A Step 2a piece at 16 kHz, mono float32 (straight from the file; scipy only for unusual WAVs)."""
    plain = read_plain_wav(path)
    if plain is not None:
        x, sr, _ = plain
    else:
        from scipy.io import wavfile  # here: the app imports this module, and starts without scipy

        sr, x = wavfile.read(path)
    if sr != 16000:
        raise RvcError(f"{path} is at {sr} Hz, not 16 kHz: run Step 2a again")
    x = x.astype(np.float32, copy=False)
    return x.mean(axis=1) if x.ndim == 2 else x


# --- pitch ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PitchTask:
    method: str
    stems: tuple[str, ...]
    wav_dir: str
    coarse_dir: str
    hz_dir: str


def _pitch_chunk(task: _PitchTask, estimator: Callable[[np.ndarray], np.ndarray] | None = None) -> list[PieceResult]:
    estimate = estimator or make_estimator(task.method)
    out = []
    for stem in task.stems:
        r = PieceResult(stem)
        try:
            f0 = estimate(read_16k(Path(task.wav_dir) / f"{stem}.wav"))
            save_npy_atomic(Path(task.hz_dir) / f"{stem}.wav.npy", f0.astype(np.float64))
            save_npy_atomic(Path(task.coarse_dir) / f"{stem}.wav.npy", coarse_f0(f0))
            r.f0_frames, r.voiced = len(f0), round(float((f0 > 0).mean()), 4) if len(f0) else 0.0
        except PitchError as e:
            r.skipped = str(e)
        except (OSError, ValueError) as e:
            r.skipped = f"unreadable piece: {e}"
        out.append(r)
    return out


def _chunks(items: list[str], n: int) -> Iterable[tuple[str, ...]]:
    for i in range(0, len(items), n):
        yield tuple(items[i : i + n])


def _run_pitch(
    method: str, todo: list[str], paths: Any, device: str, rmvpe: Path | None, workers: int,
    on_result: Callable[[PieceResult], None], stop: threading.Event | None,
) -> None:  # fmt: skip
    base = dict(wav_dir=str(paths.wavs16k), coarse_dir=str(paths.f0_coarse), hz_dir=str(paths.f0_hz))
    if method in CPU_METHODS and workers > 1 and len(todo) > 8:
        ctx = mp_context(["rvc.steps.extract"])
        with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker) as pool:
            futures = [pool.submit(_pitch_chunk, _PitchTask(method, c, **base)) for c in _chunks(todo, 8)]
            try:
                for fut in cf.as_completed(futures):
                    for r in fut.result():
                        on_result(r)
                    if stop is not None and stop.is_set():
                        raise Cancelled("Extraction stopped; finished pieces are kept")
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return
    estimator = make_estimator(method, rmvpe_path=rmvpe, device=device)
    for chunk in _chunks(todo, 1):
        if stop is not None and stop.is_set():
            raise Cancelled("Extraction stopped; finished pieces are kept")
        for r in _pitch_chunk(_PitchTask(method, chunk, **base), estimator):
            on_result(r)


# --- features ------------------------------------------------------------------------------------------------


def _batches(stems: list[str], lengths: dict[str, int], budget: int) -> list[list[str]]:
    """Groups of similar length (little padding), each at most ``budget`` padded samples. Longest first: the
    allocator then reuses the first, largest buffers (shortest first grows the heap to twice the size)."""
    order = sorted(stems, key=lambda s: -lengths[s])
    groups: list[list[str]] = []
    for stem in order:
        if groups and (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= budget:
            groups[-1].append(stem)
        else:
            groups.append([stem])
    return groups


def _run_features(
    embedder: Any, version: str, todo: list[str], paths: Any, batch_seconds: float,
    on_result: Callable[[PieceResult], None], stop: threading.Event | None,
) -> None:  # fmt: skip
    from rvc.content import hubert

    out_dir = paths.features(version)
    waves = {}
    for stem in todo:
        waves[stem] = read_16k(paths.wavs16k / f"{stem}.wav")
    short = [s for s in todo if len(waves[s]) < hubert.MIN_SAMPLES]
    for s in short:
        on_result(PieceResult(s, skipped=f"too short for features ({len(waves[s]) / 16000:.3f} s)"))
    ready = [s for s in todo if s not in short]
    lengths = {s: len(waves[s]) for s in ready}
    for group in _batches(ready, lengths, int(batch_seconds * 16000)):
        if stop is not None and stop.is_set():
            raise Cancelled("Extraction stopped; finished pieces are kept")
        feats = embedder.features([waves[s] for s in group], version)
        for stem, f in zip(group, feats, strict=True):
            r = PieceResult(stem, feature_frames=len(f))
            if not np.isfinite(f).all():
                r.skipped, r.feature_frames = "features contain NaN/Inf (not saved)", 0
            else:
                save_npy_atomic(out_dir / f"{stem}.npy", f.astype(np.float32))
            on_result(r)


# --- the step ------------------------------------------------------------------------------------------------


def _identity(path: Path) -> str:
    """A cheap fingerprint of an embedder file or folder (names, sizes, mtimes)."""
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return f"{path.resolve()}#{h.hexdigest()[:16]}"


def extract(
    experiment: Experiment,
    config: ExtractConfig | None = None,
    on_progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> ExtractReport:
    """Runs Step 2b on a preprocessed experiment and returns the saved report.

    ``on_progress`` gets :class:`~rvc.core.progress.Progress` with stage ``"download"`` (bytes of a weight file
    fetched on first need), ``"pitch"`` and ``"features"`` (pieces done of all pieces; the message is the
    piece's stem).

    Raises:
        IncompleteStepError: Step 2a has not completed (says to run it).
        WeightsError / ChecksumError: a needed weight file is missing, undownloadable or corrupt.
        EmbedderError: the embedder file cannot be used.
        Cancelled: ``stop`` was set; finished pieces stay on disk for the next run.
    """
    config = config or ExtractConfig()
    report_to = on_progress or no_progress
    exp, paths = experiment.config, experiment.paths
    pre = load_report(paths)
    stems = sorted(s for f in pre.files for s in f.stems)
    method = config.f0_method if exp.use_f0 else None
    device = resolve_device(config.device) if _needs_torch(method, config.stages) else "cpu"
    if method is not None:
        status = method_status(method)
        if not status.available and method not in METHOD_WEIGHTS:  # missing weights: ensure() explains
            raise PitchError(f"pitch method {method} is unavailable: {status.reason}")
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    with experiment_lock(paths.lock, "extraction"):
        rmvpe, embedder_path, embedder_name = _weights(config, method, report_to)
        previous = _read_previous(paths.root / REPORT_FILE)
        identity = _identity(embedder_path) if embedder_path else previous.get("embedder", "")
        embedder_name = embedder_name or previous.get("embedder_name", embedders.DEFAULT)
        _prepare_folders(experiment, pre.run_id, previous, method, identity, config.stages)
        report = ExtractReport(
            experiment=exp.name, preprocess_run=pre.run_id, version=exp.version, use_f0=exp.use_f0,
            f0_method=method, embedder=identity, device=device, pieces=[], seconds={},
            started=started.isoformat(timespec="seconds"), finished="", complete=False, embedder_name=embedder_name,
        )  # fmt: skip
        write_json_atomic(paths.root / REPORT_FILE, report.to_dict())  # the settings, for a resumed run
        results = {s: PieceResult(s) for s in stems}
        if method:
            t = time.monotonic()
            compute = "pitch" in config.stages
            _extract_pitch(method, stems, paths, device, rmvpe, config, results, report_to, stop, compute)
            if compute:
                report.seconds["pitch"] = round(time.monotonic() - t, 3)
            else:
                report.f0_method = previous.get("f0_method")
        t = time.monotonic()
        _extract_features(experiment, stems, embedder_path, device, config, results, report_to, stop)
        report.seconds["features"] = round(time.monotonic() - t, 3)
        report.pieces = [results[s] for s in stems]
        report.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
        report.seconds["total"] = round(time.monotonic() - t0, 3)
        report.complete = True
        write_json_atomic(paths.root / REPORT_FILE, report.to_dict())
        return report


def _needs_torch(method: str | None, stages: tuple[str, ...]) -> bool:
    """Whether this run uses PyTorch at all: pm, harvest and dio alone do not, and then it is not even imported
    (it would cost 1.4 s and 250 MB in the parent and in each forked worker's counted memory)."""
    return "features" in stages or (method is not None and method not in CPU_METHODS)


def _weights(
    config: ExtractConfig, method: str | None, on_progress: ProgressFn
) -> tuple[Path | None, Path | None, str | None]:
    """The RMVPE file and the embedder this run needs (its path and name), fetched on first need; no embedder when
    only the pitch is computed and none was given (the features of the embedder used before are kept)."""
    from rvc.hub import weights

    rmvpe = config.rmvpe
    if method == "rmvpe" and rmvpe is None and "pitch" in config.stages:
        rmvpe = weights.ensure("rmvpe", on_progress=on_progress)
    choice = embedders.parse(config.embedder)
    if choice is None and "features" not in config.stages:
        return rmvpe, None, None
    choice = choice or embedders.EmbedderChoice(embedders.DEFAULT)
    return rmvpe, embedders.locate(choice, on_progress), embedders.identify(choice)


def recorded_embedder(experiment: Experiment) -> str:
    """The embedder the experiment's features were made with (its registry name or "custom"), as a model
    exported from it records it; contentvec when Step 2b recorded none."""
    return str(_read_previous(experiment.paths.root / REPORT_FILE).get("embedder_name") or embedders.DEFAULT)


def _prepare_folders(
    experiment: Experiment, run_id: str, previous: dict[str, Any], method: str | None, identity: str,
    stages: tuple[str, ...],
) -> None:  # fmt: skip
    """Removes the outputs made from other pieces or with another method or embedder, and any temporary file a
    killed run left; creates the output folders."""
    paths, version = experiment.paths, experiment.config.version
    if previous.get("preprocess_run") != run_id:
        for d in (paths.f0_coarse, paths.f0_hz, paths.features(version)):
            shutil.rmtree(d, ignore_errors=True)  # made from other pieces
    else:
        if method and "pitch" in stages and previous.get("f0_method") != method:
            shutil.rmtree(paths.f0_coarse, ignore_errors=True)
            shutil.rmtree(paths.f0_hz, ignore_errors=True)
        if previous.get("embedder") != identity:
            shutil.rmtree(paths.features(version), ignore_errors=True)
    for d in [paths.features(version)] + ([paths.f0_coarse, paths.f0_hz] if method else []):
        d.mkdir(exist_ok=True)
        _clear_temporaries(d)


def _extract_features(
    experiment: Experiment, stems: list[str], embedder_path: Path | None, device: str, config: ExtractConfig,
    results: dict[str, PieceResult], on_progress: ProgressFn, stop: threading.Event | None,
) -> None:  # fmt: skip
    """Features for the pieces that lack them (with the ``features`` stage), the frame counts of those on disk."""
    exp = experiment.config
    folder = experiment.paths.features(exp.version)
    compute = "features" in config.stages
    todo = [s for s in stems if compute and not results[s].skipped and not (folder / f"{s}.npy").exists()]
    for s in stems:
        feature = folder / f"{s}.npy"
        if s not in todo and not results[s].skipped and feature.exists():
            results[s].feature_frames = int(np.load(feature, mmap_mode="r").shape[0])
    if not compute:
        return
    from rvc.content import hubert  # here: a pitch-only run never imports torch

    assert embedder_path is not None  # _weights gives one whenever features are computed
    embedder = None
    if todo:
        embedder = hubert.load_embedder(embedder_path, device)
        dim = embedder.features([np.zeros(400, np.float32)], exp.version)[0].shape[1]
        if dim != exp.feature_dim:
            raise hubert.EmbedderError(
                f"{embedder_path} gives {dim}-d {exp.version} features; a {exp.version} model needs {exp.feature_dim}-d"
            )
        done = [len(stems) - len(todo)]

        def on_feature(r: PieceResult) -> None:
            results[r.stem].feature_frames = r.feature_frames
            if r.skipped:
                results[r.stem].skipped = r.skipped
            done[0] += 1
            on_progress(Progress("features", done[0], len(stems), r.stem))

        batch = config.batch_seconds if config.batch_seconds is not None else (0.0 if device == "cpu" else 64.0)
        _run_features(embedder, exp.version, todo, experiment.paths, batch, on_feature, stop)
    _write_silent_clips(experiment, embedder_path, device, embedder)


def _write_silent_clips(experiment: Experiment, embedder_path: Path, device: str, embedder: Any = None) -> None:
    """The two silent clips training adds (as the reference does), their features from this embedder."""
    from rvc.content import hubert
    from rvc.steps.train.data import MUTE_SECONDS, mute_dir, write_mute

    target = mute_dir(experiment) / f"3_feature{experiment.config.feature_dim}" / "mute.npy"
    marker = target.with_name(".embedder")
    identity = _identity(embedder_path)
    if target.exists() and marker.exists() and marker.read_text() == identity:
        return
    embedder = embedder or hubert.load_embedder(embedder_path, device)
    features = embedder.features([np.zeros(MUTE_SECONDS * 16000, np.float32)], experiment.config.version)[0]
    write_mute(experiment, features)
    marker.write_text(identity)


def _extract_pitch(
    method: str, stems: list[str], paths: Any, device: str, rmvpe: Path | None, config: ExtractConfig,
    results: dict[str, PieceResult], on_progress: ProgressFn, stop: threading.Event | None,
    compute: bool = True,
) -> None:  # fmt: skip
    """Pitch for the pieces that lack it (``compute``), or only the statistics of what is on disk."""
    todo = []
    for s in stems:
        hz, coarse = paths.f0_hz / f"{s}.wav.npy", paths.f0_coarse / f"{s}.wav.npy"
        if hz.exists() and coarse.exists():
            f0 = np.load(hz)
            results[s].f0_frames, results[s].voiced = len(f0), round(float((f0 > 0).mean()), 4) if len(f0) else 0.0
        elif compute:
            todo.append(s)
    if not todo:
        return
    done = [len(stems) - len(todo)]

    def on_pitch(r: PieceResult) -> None:
        results[r.stem] = r
        done[0] += 1
        on_progress(Progress("pitch", done[0], len(stems), r.stem))

    workers = min(config.workers or os.cpu_count() or 1, max(1, len(todo)))
    _run_pitch(method, todo, paths, device, rmvpe, workers, on_pitch, stop)


def _read_previous(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def load_extract_report(experiment: Experiment) -> ExtractReport | None:
    """The last complete extraction report, or None."""
    data = _read_previous(experiment.paths.root / REPORT_FILE)
    if not data or not data.get("complete"):
        return None
    data = {k: v for k, v in data.items() if k != "totals"}
    data["pieces"] = [PieceResult(**p) for p in data["pieces"]]
    return ExtractReport(**data)


def settings_used(experiment: Experiment) -> tuple[Path | None, str | None]:
    """The embedder (a folder or file that still exists) and the pitch method Step 2b last used, where it recorded
    them: what a conversion of the experiment's own pieces should use to match its training data."""
    report = load_extract_report(experiment)
    if report is None:
        return None, None
    path = Path(report.embedder.split("#", 1)[0]) if report.embedder else None
    return (path if path is not None and path.exists() else None), report.f0_method
