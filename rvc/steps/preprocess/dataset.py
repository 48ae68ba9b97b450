"""The dataset folder of Step 2a: which of its entries are read (the top-level files, sorted by name), which are
refused up front, and the copy of uploaded files into a folder of their own."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from rvc.core.errors import DatasetError
from rvc.steps.preprocess.report import FileResult
from rvc.steps.preprocess.staging import swap_folders


def _within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _listing(dataset_dir: Path) -> list[str]:
    """The sorted names in the folder.

    Raises:
        DatasetError: the folder is missing, is a file, or cannot be read.
    """
    if not dataset_dir.exists():
        raise DatasetError(f"Dataset folder not found: {dataset_dir}")
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir} is a file, not a folder: give the folder that holds your recordings")
    try:
        return sorted(os.listdir(dataset_dir))
    except PermissionError as e:
        raise DatasetError(f"No permission to read the dataset folder {dataset_dir}") from e
    except OSError as e:
        raise DatasetError(f"Cannot read the dataset folder {dataset_dir}: {e.strerror or e}") from e


def _refusal(path: Path, root: Path) -> str:
    """Why a top-level file is not read ("" when it is)."""
    if path.is_symlink():
        target = path.resolve()
        if not _within(target, root):
            return f"symbolic link leading outside the dataset folder (to {target}); not read"
        if not target.exists():
            return "broken symbolic link"
    elif not path.exists():
        return "vanished while listing"
    if path.name.startswith("."):
        return "hidden file; not read"
    return ""


def list_dataset(dataset_dir: Path) -> tuple[list[tuple[int, str, Path]], list[FileResult], list[str]]:
    """The top-level files of a dataset folder.

    Returns ``(inputs, skipped, folders)``: ``(index, name, path)`` for each file to decode, results for the
    entries refused up front (links leading outside the folder, hidden files, unreadable entries), and the names
    of the subfolders, which are not read. Indices follow ``sorted(os.listdir())`` over files, as in the reference.

    Raises:
        DatasetError: the folder is missing, is a file, or cannot be read.
    """
    dataset_dir = Path(dataset_dir)
    names = _listing(dataset_dir)
    root = dataset_dir.resolve()
    inputs: list[tuple[int, str, Path]] = []
    skipped: list[FileResult] = []
    folders: list[str] = []
    index = 0
    for name in names:
        path = dataset_dir / name
        if path.is_dir():
            if not (path.is_symlink() and not _within(path.resolve(), root)):
                folders.append(name)
            continue
        reason = _refusal(path, root)
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
    tag = uuid.uuid4().hex[:8]
    tmp, trash = dest.with_name(f".{dest.name}.tmp-{tag}"), dest.with_name(f".{dest.name}.trash-{tag}")
    tmp.mkdir(parents=True)
    trash.mkdir()
    try:
        for src in map(Path, files):
            name = src.name.replace("\\", "_") or "upload"
            target = tmp / name
            n = 1
            while target.exists():
                target = tmp / f"{Path(name).stem}_{n}{Path(name).suffix}"
                n += 1
            shutil.copyfile(src, target)
        swap_folders([(tmp, dest)], trash)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
    return dest
