"""The feature index: name, list count, contents, k-means reduction, atomic files, CLI and errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from rvc.core.errors import IncompleteStepError
from rvc.core.experiment import ExperimentConfig, create_or_open
from rvc.steps import index as I

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "rows, n", [(1, 1), (38, 1), (39, 1), (1000, 25), (10_000, 256), (100_000, 2564), (200_000, 5128)]
)
def test_list_count(rows, n):
    assert I.n_lists(rows) == n


def fake_features(exp, counts, dim=768, seed=0):
    folder = exp.paths.features(exp.config.version)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, c in enumerate(counts):
        np.save(folder / f"0_{i}.npy", rng.standard_normal((c, dim)).astype(np.float32))
    return folder


def test_index_in_the_reference_layout(tmp_path):
    exp, _ = create_or_open(ExperimentConfig("voice"), tmp_path)
    fake_features(exp, [185, 185, 120])
    r = I.train_index(exp)
    assert r.path.name == "added_IVF12_Flat_nprobe_1_voice_v2.index" and r.rows == r.vectors == 490
    assert (exp.paths.root / "trained_IVF12_Flat_nprobe_1_voice_v2.index").exists()
    index = faiss.read_index(str(r.path))
    assert index.ntotal == 490 and faiss.extract_index_ivf(index).nprobe == 1
    total = np.load(exp.paths.root / "total_fea.npy")
    assert total.shape == (490, 768)
    rows = np.concatenate([np.load(p) for p in sorted(exp.paths.features("v2").glob("*.npy"))])
    assert sorted(map(tuple, total[:, :3].round(5))) == sorted(map(tuple, rows[:, :3].round(5)))  # the same rows
    distances, ids = index.search(total[:5], 1)
    assert np.allclose(distances[:, 0], 0, atol=1e-3)  # every vector finds itself
    assert not [p for p in exp.paths.root.iterdir() if p.name.startswith(".") and "tmp" in p.name]


def test_tiny_dataset_and_kmeans_reduction(tmp_path):
    exp, _ = create_or_open(ExperimentConfig("tiny", version="v1"), tmp_path)
    fake_features(exp, [10], dim=256)
    assert I.train_index(exp).n_lists == 1  # fewer rows than 39: one list, still works
    fake_features(exp, [400, 400], dim=256)
    r = I.train_index(exp, kmeans_above=500, centroids=64)
    assert r.kmeans and r.vectors == 64 and r.rows == 800  # 0_0.npy was rewritten with 400 rows
    bigger = I.train_index(exp)  # 800 rows: IVF20; the IVF1 files of before are removed
    names = sorted(p.name for p in tmp_path.joinpath("tiny").glob("*.index"))
    assert names == sorted(bigger.path.name.replace("added", kind) for kind in ("added", "trained"))


def test_no_features_and_cli(tmp_path):
    exp, _ = create_or_open(ExperimentConfig("voice"), tmp_path)
    with pytest.raises(IncompleteStepError, match="run Step 2b"):
        I.train_index(exp)
    fake_features(exp, [200])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "rvc", "index", "voice", "--json", "--logs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["vectors"] == 200 and "index written" in r.stderr


def test_recall_at_8_against_exact_search_on_clustered_data(tmp_path):
    """At nprobe 1 (what the index file says and conversion uses) the 8 neighbours found are those exact search
    finds, for clustered features (speech features cluster by phone and speaker)."""
    exp, _ = create_or_open(ExperimentConfig("recall"), tmp_path)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((1500, 768)).astype(np.float32) * 4
    rows = np.repeat(centres, 12, axis=0) + rng.standard_normal((18_000, 768)).astype(np.float32) * 0.3
    folder = exp.paths.features("v2")
    folder.mkdir(parents=True)
    for i, part in enumerate(np.array_split(rows, 6)):
        np.save(folder / f"0_{i}.npy", part)
    index = faiss.read_index(str(I.train_index(exp).path))
    assert faiss.extract_index_ivf(index).nprobe == 1
    queries = rows[rng.choice(len(rows), 500, replace=False)] + rng.standard_normal((500, 768)).astype(np.float32) * 0.1
    exact = faiss.IndexFlatL2(768)
    exact.add(index.reconstruct_n(0, index.ntotal))
    _, found = index.search(queries, 8)
    _, truth = exact.search(queries, 8)
    recall = np.mean([len(set(a) & set(b)) / 8 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.9, recall


def test_retrieval_weights_are_finite_on_exact_hits():
    from rvc.inference.retrieval import retrieval_weights

    w, found = retrieval_weights(np.array([[0.0, 0.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [0.0] * 8, [1.0] * 8], np.float32))
    assert np.isfinite(w).all() and np.allclose(w.sum(axis=1), 1) and found.all()
    assert w[0, 0] > 0.999 and np.allclose(w[1], 1 / 8) and np.allclose(w[2], 1 / 8)
    # faiss's label -1 (the probed list had fewer than 8 vectors): no weight; no hit at all: the row is marked
    ix = np.array([[3, 4, -1, -1, -1, -1, -1, -1], [-1] * 8])
    big = np.float32(3.4e38)  # what faiss returns as the distance of a missing neighbour
    w, found = retrieval_weights(np.array([[1.0, 2.0, *[big] * 6], [big] * 8], np.float32), ix)
    assert np.allclose(w[0, :2], [0.8, 0.2]) and (w[0, 2:] == 0).all() and (w[1] == 0).all()
    assert found.tolist() == [True, False]


def test_find_index_and_the_lists_of_indexes(tmp_path):
    logs, weights = tmp_path / "logs", tmp_path / "weights"
    exp, _ = create_or_open(ExperimentConfig("voice"), logs)
    assert I.find_index(exp) is None and I.list_indexes(logs, weights) == []
    fake_features(exp, [185, 185, 120])
    seen = []
    r = I.train_index(exp, on_progress=seen.append)
    assert I.find_index(exp) == r.path
    assert {p.stage for p in seen} == {"index"} and seen[-1].done == seen[-1].total == r.vectors
    older = exp.paths.root / "added_IVF3_Flat_nprobe_1_voice_v2.index"
    older.write_bytes(b"")
    os.utime(older, ns=(1, 1))
    assert I.find_index(exp) == r.path  # the newest of several
    (exp.paths.root / "added_IVF3_Flat_nprobe_1_other_v2.index").write_bytes(b"")  # not this experiment's
    assert I.find_index(exp) == r.path
    weights.mkdir()
    (weights / "shared.index").write_bytes(b"")
    found = I.list_indexes(logs, weights)
    assert found == sorted([r.path, older, exp.paths.root / "added_IVF3_Flat_nprobe_1_other_v2.index",
                            weights / "shared.index"], key=str)  # fmt: skip
    assert I.match_index(weights / "voice_e20_s400.pth", found) in (r.path, older)
    assert I.match_index("shared.pth", found) == weights / "shared.index"
    assert I.match_index("", found) is None and I.match_index("nobody.pth", found) is None
