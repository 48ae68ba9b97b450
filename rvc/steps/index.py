"""The feature index: every ``3_feature*`` row of an experiment in a faiss IVF-Flat index, as the reference
builds it, so conversion can pull the voice's own features back (RVC WebUI and Applio pick the file up by name).

Above 200k rows the set is first reduced to 10k k-means centroids (faiss's k-means). ``n = min(16·√N, N // 39)``
inverted lists (at least 1, so tiny datasets work), nprobe 1, vectors added in batches of 8192; every file is
written through :mod:`rvc.core.files` (a temporary name, fsynced, renamed).

:func:`find_index` and :func:`list_indexes` are the one way to find an index (the CLI's export, the pages' lists).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rvc.core.errors import IncompleteStepError
from rvc.core.experiment import Experiment
from rvc.core.files import save_npy_atomic, write_with
from rvc.core.locking import experiment_lock
from rvc.core.progress import Progress, ProgressFn, no_progress

logger = logging.getLogger(__name__)

KMEANS_ABOVE = 200_000
KMEANS_CENTROIDS = 10_000
ADD_BATCH = 8192


@dataclass
class IndexResult:
    path: Path  # the added_… index, the one conversion uses
    rows: int  # feature rows read
    vectors: int  # vectors in the index (centroids after k-means)
    n_lists: int
    kmeans: bool
    seconds: float


def n_lists(rows: int) -> int:
    """``min(int(16·√N), N // 39)``, at least 1 (39: faiss's minimum training points per list)."""
    return max(1, min(int(16 * math.sqrt(rows)), rows // 39))


def index_name(kind: str, n: int, experiment: str, version: str) -> str:
    return f"{kind}_IVF{n}_Flat_nprobe_1_{experiment}_{version}.index"


def _pattern(kind: str, experiment: str, version: str) -> str:
    """The glob of an experiment's index files of ``kind`` ("added", "trained" or "*"), any list count."""
    return f"{kind}_IVF*_Flat_nprobe_1_{experiment}_{version}.index"


def find_index(experiment: Experiment) -> Path | None:
    """The experiment's ``added_IVF…index`` (the one conversion uses), the newest if there are several; None
    before Step 2c."""
    root = experiment.paths.root
    found = root.glob(_pattern("added", experiment.name, experiment.config.version)) if root.is_dir() else ()
    files = [p for p in found if p.is_file()]
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name)) if files else None


def list_indexes(logs_dir: Path, weights_dir: Path) -> list[Path]:
    """Every index a conversion can use: the experiments' ``added_*.index`` and the ``.index`` files in the
    weights folder (unpacked or copied from elsewhere), sorted by path."""
    found: list[Path] = []
    if Path(logs_dir).is_dir():
        found += Path(logs_dir).glob("*/added_*.index")
    if Path(weights_dir).is_dir():
        found += Path(weights_dir).glob("*.index")
    return sorted(found, key=str)


def match_index(model: str | Path, indexes: list[Path]) -> Path | None:
    """The index made with a small model, by the experiment's name in the index's file name (``voice.pth`` and
    ``voice_e20_s400.pth`` match ``added_…_voice_v2.index`` or ``voice.index``)."""
    stem = Path(model).stem.split("_e")[0]
    if not stem:
        return None
    return next((i for i in indexes if f"_{stem}_v" in Path(i).name or Path(i).stem == stem), None)


def _write_index(index: Any, path: Path) -> None:
    import faiss

    write_with(path, lambda tmp: faiss.write_index(index, str(tmp)))


def _train(index: Any, feats: np.ndarray, say: Callable[[str], None]) -> Any:
    """Trains the IVF lists, on the GPU when the faiss build has one (faiss-gpu); returns the trained CPU index."""
    import faiss

    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        say(f"training the lists on {faiss.get_num_gpus()} GPU(s)")
        gpu = faiss.index_cpu_to_all_gpus(index)
        gpu.train(feats)
        index = faiss.index_gpu_to_cpu(gpu)
        faiss.extract_index_ivf(index).nprobe = 1
        return index
    index.train(feats)
    return index


def load_features(experiment: Experiment) -> np.ndarray:
    folder = experiment.paths.features(experiment.config.version)
    files = sorted(folder.glob("*.npy")) if folder.is_dir() else []
    if not files:
        raise IncompleteStepError("No features to index: run Step 2b (extract) first")
    return np.concatenate([np.load(f).astype(np.float32) for f in files], axis=0)


def train_index(
    experiment: Experiment,
    on_progress: ProgressFn | None = None,
    kmeans_above: int = KMEANS_ABOVE,
    centroids: int = KMEANS_CENTROIDS,
) -> IndexResult:
    """Builds ``logs/<name>/added_IVF…_<name>_<version>.index`` (and ``total_fea.npy``, ``trained_IVF….index``).

    ``on_progress`` gets stage ``"index"``: the vectors added of the total once adding starts (total 0 before).

    Raises:
        IncompleteStepError: no features yet.
        ExperimentBusyError: another job runs on this experiment.
    """
    import time

    import faiss

    report = on_progress or no_progress

    def say(message: str, done: int = 0, total: int = 0) -> None:
        report(Progress("index", done, total, message))

    t0 = time.monotonic()
    paths, version = experiment.paths, experiment.config.version
    with experiment_lock(paths.lock, "index training"):
        feats = load_features(experiment)
        rows = len(feats)
        feats = feats[np.random.default_rng(0).permutation(rows)]
        kmeans = rows > kmeans_above
        if kmeans:
            say(f"reducing {rows} rows to {centroids} k-means centroids")
            km = faiss.Kmeans(feats.shape[1], centroids, niter=20, seed=1, verbose=False, gpu=faiss.get_num_gpus() > 0)
            km.train(feats)
            feats = np.asarray(km.centroids, dtype=np.float32)
        save_npy_atomic(paths.root / "total_fea.npy", feats)
        n = n_lists(len(feats))
        say(f"training IVF{n},Flat on {len(feats)} vectors")
        index = faiss.index_factory(feats.shape[1], f"IVF{n},Flat")
        faiss.extract_index_ivf(index).nprobe = 1
        index = _train(index, feats, say)
        for old in paths.root.glob(_pattern("*", experiment.name, version)):
            old.unlink()  # an earlier index of this experiment (another list count)
        _write_index(index, paths.root / index_name("trained", n, experiment.name, version))
        for i in range(0, len(feats), ADD_BATCH):
            index.add(feats[i : i + ADD_BATCH])
            added = min(i + ADD_BATCH, len(feats))
            say(f"added {added}/{len(feats)} vectors", added, len(feats))
        path = paths.root / index_name("added", n, experiment.name, version)
        _write_index(index, path)
    return IndexResult(path, rows, int(index.ntotal), n, kmeans, round(time.monotonic() - t0, 3))
