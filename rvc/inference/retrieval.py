"""Retrieval from the experiment's faiss index: the weighted mean of each frame's 8 nearest training vectors,
which conversion blends into the frame's own content features (``index_rate`` of it) to pull the timbre towards
the trained voice.

One deliberate difference from the reference: the weights ``1 / d²`` (faiss returns squared distances, so
``1 / score²``) are computed with the score floored at 1e-12, so an exact match gets a large weight instead of
the reference's inf/NaN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rvc.core.errors import RvcError

NEIGHBOURS = 8


def load_index(path: Path, dim: int) -> tuple[Any, np.ndarray]:
    """The faiss index at ``path`` (a ``trained_*`` file is swapped for its filled ``added_*`` sibling) and its
    vectors (reconstructed once: retrieval reads them by label).

    Raises:
        RvcError: missing, unreadable, or of another feature size than the model's ``dim``.
    """
    import faiss

    if not path.is_file():
        raise RvcError(f"index not found: {path}")
    if "trained_" in path.name:  # the empty, trained-only index: its filled sibling is the one to use
        path = path.with_name(path.name.replace("trained_", "added_"))
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        raise RvcError(f"{path} is not a readable faiss index") from e
    if index.d != dim:
        raise RvcError(
            f"{path} holds {index.d}-d vectors; this model needs a {dim}-d ({'v1' if dim == 256 else 'v2'}) index"
        )
    return index, index.reconstruct_n(0, index.ntotal)


def retrieval_weights(score: np.ndarray, ix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the weights of the k retrieved vectors: ``1 / score²`` normalised (faiss's scores are squared
    distances), with the score floored at 1e-12 so an exact hit (score 0) dominates instead of giving NaN.
    Labels -1 (the probed list held fewer than k vectors) get weight 0; returns (weights, rows with any hit)."""
    valid = np.ones(score.shape, bool) if ix is None else ix >= 0
    w = np.where(valid, 1.0 / np.maximum(score.astype(np.float64), 1e-12) ** 2, 0.0)
    total = w.sum(axis=1, keepdims=True)
    found = np.asarray(valid.any(axis=1))
    return (w / np.where(total > 0, total, 1.0)).astype(np.float32), found


def retrieve(feats: np.ndarray, index: Any, vectors: np.ndarray) -> np.ndarray:
    """Each frame's weighted mean of its nearest training vectors, ``[T, dim]`` float32; a frame whose probed
    list held no vector keeps its own features."""
    score, ix = index.search(feats, NEIGHBOURS)
    w, found = retrieval_weights(score, ix)
    retrieved = (vectors[np.maximum(ix, 0)] * w[..., None]).sum(axis=1).astype(np.float32)
    return np.where(found[:, None], retrieved, feats)
