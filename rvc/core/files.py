"""The one way to write a file that must never be seen half-written.

Every step writes through :func:`atomic_write`: the data goes to a temporary file in the target's own folder
(same file system, so the rename is atomic), is flushed and fsynced, then renamed over the target. A crash or a
kill at any instant leaves the old file or the new one; a failed write removes its temporary file and leaves
the target as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np


def temp_path(path: Path) -> Path:
    """A hidden sibling of ``path``, unique per process and thread (parallel writers never share one)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Opens a temporary file beside ``path`` for writing; on a clean exit it is fsynced and renamed to ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8). On an exception the temporary file is removed and ``path`` is
    untouched."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes new files only ('wb' or 'w'), not {mode!r}")
    path = Path(path)
    tmp = temp_path(path)
    try:
        encoding = "utf-8" if mode == "w" else None
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_with(path: str | Path, write: Callable[[Path], None]) -> None:
    """For writers that take a file name (``faiss.write_index``, an encoder): ``write(tmp)`` fills a temporary
    file beside ``path``, which is then fsynced and renamed to ``path``."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        write(tmp)
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def commit(tmp: Path, path: Path) -> None:
    """Fsyncs a finished temporary file (from :func:`temp_path`, in ``path``'s folder) and renames it to ``path``.
    For writers that choose the final name only once the data is written (an unpacked archive member that must not
    replace a different file of the same name); the caller removes ``tmp`` if anything fails before."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """JSON, indented, UTF-8 (the experiment's config and every step's report)."""
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=4, ensure_ascii=False)
        f.write("\n")


def save_npy_atomic(path: str | Path, array: np.ndarray) -> None:
    """A ``.npy`` file (features, pitch)."""
    with atomic_write(path, "wb") as f:
        np.save(f, array)


def file_hash(path: str | Path, h: Any = None) -> Any:
    """``h`` (default a new SHA-256) updated with the bytes of ``path``, read in 1 MiB blocks: the one way a file is
    hashed (``.hexdigest()`` for its digest; a download keeps updating it)."""
    h = hashlib.sha256() if h is None else h
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h
