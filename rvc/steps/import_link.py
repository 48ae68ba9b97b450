"""Import a shared voice model into ``weights/`` from a file or a link (Hugging Face file or repository, Google
Drive, a direct ``.zip``/``.pth``/``.index`` URL): downloaded with progress and resume under
``weights/.downloads/``, then through every check of the upload path (:func:`rvc.models.package.import_package`:
safe unzip, model and index files only, ``weights_only`` loading); the model's card comes back.

The one path for ``rvc import`` and the Infer tab's import field.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from rvc.core.errors import DownloadError, RvcError
from rvc.core.experiment import validate_name
from rvc.core.files import commit
from rvc.core.options import option
from rvc.core.progress import ProgressFn
from rvc.hub import links, weights
from rvc.hub.http import Fetched

if TYPE_CHECKING:  # torch: imported when a model is imported, not by every command of the CLI
    from rvc.models.package import Imported

logger = logging.getLogger(__name__)

DOWNLOADS = ".downloads"
KEEP = (".zip", ".pth", ".index")


@dataclass(frozen=True)
class ImportConfig:
    name: str | None = option(None, "name for the imported model (default: its file name)")
    file: str | None = option(None, "which model of a repository holding several (its path or file name)")
    max_gb: float = option(4.0, "largest download accepted, GB (default {default})", minimum=0.001)
    # an app others reach: public links only (every redirect checked), no files of the server
    public_only: bool = False


class ChoiceNeeded(RvcError):
    """A repository holds several models: the user picks one (``options``: their paths)."""

    def __init__(self, message: str, options: list[str]) -> None:
        super().__init__(message)
        self.options = options


def import_model(
    source: str, weights_dir: Path, config: ImportConfig | None = None, on_progress: ProgressFn | None = None
) -> Imported:
    """Imports the model (and index) a file or link holds into ``weights_dir``.

    Raises:
        DownloadError: unreachable/offline, refused, too large, a web page instead of a file (one clear line).
        ChoiceNeeded: a repository with several models and no ``config.file``.
        RvcError / ModelFileError: an unsafe or unusable archive, not a model.
    """
    config = config or ImportConfig()
    if config.name:
        validate_name(config.name)
    weights_dir = Path(weights_dir)
    local = Path(source).expanduser()
    if not config.public_only and local.is_file():
        from rvc.models.package import import_package

        return import_package(local, weights_dir, config.name)
    link = links.parse_link(source)
    guard = links.refuse_private if config.public_only else None
    if guard:
        guard(source)
    if weights.offline():
        raise DownloadError(
            f"downloads are off ($RVC_OFFLINE or $HF_HUB_OFFLINE): download {source} yourself and import the file"
        )
    cap = int(config.max_gb * 1e9)
    folder = weights_dir / DOWNLOADS
    if link.kind == "hf-repo":
        return _from_repo(link, folder, weights_dir, config, cap, on_progress)
    fetched = links.download(link, folder, cap, on_progress, guard=guard)
    return _take(fetched, link.name, weights_dir, config.name)


def _take(fetched: Fetched, name_hint: str, weights_dir: Path, name: str | None) -> Imported:
    """A finished download under its real name, imported, then the download removed."""
    named = fetched.part.with_name(_file_name(fetched, name_hint))
    commit(fetched.part, named)
    try:
        from rvc.models.package import import_package

        return import_package(named, weights_dir, name)
    finally:
        named.unlink(missing_ok=True)


def _file_name(fetched: Fetched, hint: str) -> str:
    """The downloaded file's base name: the server's, the link's, or one its first bytes imply."""
    for candidate in (fetched.filename, hint, PurePosixPath(fetched.url.split("?")[0]).name):
        base = PurePosixPath((candidate or "").replace("\\", "/")).name
        if base.lower().endswith(KEEP) and not base.startswith("."):
            return base
    head = fetched.head(4)
    if head[:2] in (b"Iw", b"Ix"):  # a faiss index's header
        return "imported.index"
    if head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(fetched.part) as z:  # torch saves a .pth as a zip holding <name>/data.pkl
                is_torch = any(n.endswith("/data.pkl") for n in z.namelist())
        except (zipfile.BadZipFile, OSError) as e:
            raise DownloadError(f"{fetched.url} is an incomplete or damaged zip") from e
        return "imported.pth" if is_torch else "imported.zip"
    raise DownloadError(f"{fetched.url} is neither a model .zip nor a .pth nor an .index")


def _from_repo(
    link: links.Link, folder: Path, weights_dir: Path, config: ImportConfig, cap: int, on_progress: ProgressFn | None
) -> Imported:
    guard = links.refuse_private if config.public_only else None
    files = dict(links.hf_files(link, guard))
    model = _pick_model(link, list(files), config.file)
    for path in filter(None, (model, _pick_index(list(files), model))):
        size = files.get(path)
        if size is not None and size > cap:
            raise DownloadError(f"{path} in {link.repo} is {size / 1e9:.2f} GB, more than {cap / 1e9:.2f} GB allowed")
    got = _take(links.download(link, folder, cap, on_progress, model, guard), model, weights_dir, config.name)
    index = _pick_index(list(files), model) if model.lower().endswith(".pth") and got.index is None else None
    if index:
        extra = _take(links.download(link, folder, cap, on_progress, index, guard), index, weights_dir, config.name)
        got = replace(got, index=extra.index)
    return got


def _pick_model(link: links.Link, paths: list[str], wanted: str | None) -> str:
    models = [p for p in paths if p.lower().endswith(".pth") and not PurePosixPath(p).name.startswith(("G_", "D_"))]
    zips = [p for p in paths if p.lower().endswith(".zip")]
    if wanted:
        hit = [p for p in models + zips if p == wanted or PurePosixPath(p).name == wanted]
        if len(hit) != 1:
            raise DownloadError(f"{link.repo} has no model {wanted!r} (it has: {', '.join(models + zips) or 'none'})")
        return hit[0]
    if len(models) == 1:
        return models[0]
    if not models and len(zips) == 1:
        return zips[0]
    if not models and not zips:
        raise DownloadError(f"{link.repo} holds no model (.pth or .zip)")
    options = models or zips
    raise ChoiceNeeded(f"{link.repo} holds {len(options)} models: pick one ({', '.join(options)})", options)


def _pick_index(paths: list[str], model: str) -> str | None:
    """The index shared with ``model``: in its folder (named after it, or RVC's ``added_…``), or the only one."""
    if not model.lower().endswith(".pth"):
        return None
    indexes = [p for p in paths if p.lower().endswith(".index")]
    folder, stem = str(PurePosixPath(model).parent), PurePosixPath(model).stem.lower()
    near = [p for p in indexes if str(PurePosixPath(p).parent) == folder]
    for group in (near, indexes):
        named = [p for p in group if stem and stem in PurePosixPath(p).name.lower()]
        if len(named) == 1:
            return named[0]
        if len(group) == 1:
            return group[0]
        added = [p for p in group if PurePosixPath(p).name.startswith("added_")]
        if len(added) == 1:
            return added[0]
    return None
