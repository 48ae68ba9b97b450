"""What a trained voice is when it leaves the experiment: the small model's card (its ``info`` and extra keys)
and the ``<name>.zip`` package users share (the small model and its index), exported and imported safely.

The small model keeps the reference's layout; the extra top-level keys (``epoch``, ``step``,
``dataset_seconds``) are ignored by RVC WebUI and Applio, and ``info`` starts with the reference's
``"<epoch>epoch"``.
"""

from __future__ import annotations

import filecmp
import logging
import shutil
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rvc.core.errors import ModelFileError, RvcError
from rvc.core.files import commit, temp_path, write_with

logger = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 2 * 1024**3  # a small model is ~55 MB, an index of an hour of speech a few hundred MB
SAMPLE_RATES = {"32k": 32000, "40k": 40000, "48k": 48000}


@dataclass(frozen=True)
class ModelCard:
    """What is known about a small model."""

    name: str
    sample_rate: str  # "40k"
    version: str  # "v1" | "v2"
    f0: bool
    info: str
    epoch: int | None = None
    step: int | None = None
    dataset_seconds: float | None = None
    scores: dict[str, float] | None = None  # this model's evaluation (rvc.evaluation), when it was evaluated
    best_epoch: int | None = None  # the training's best-scoring epoch (its model: <name>_best.pth)
    best_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.name}: {self.sample_rate}, {self.version}, {'with' if self.f0 else 'no'} pitch guidance"]
        if self.epoch is not None:
            parts.append(f"{self.epoch} epochs, {self.step} steps")
        if self.dataset_seconds:
            parts.append(f"{self.dataset_seconds / 60:.1f} min of training audio")
        if self.scores and "score" in self.scores:
            s = self.scores
            detail = ", ".join(f"{label} {s[k]:{fmt}}" for k, label, fmt in SCORE_LABELS if s.get(k) is not None)
            parts.append(f"score {s['score']:.3f} ({detail})" if detail else f"score {s['score']:.3f}")
        if self.best_epoch is not None and self.best_score is not None:
            parts.append(f"best evaluation: epoch {self.best_epoch} (score {self.best_score:.3f})")
        if self.info and self.epoch is None:
            parts.append(f"info: {self.info}")
        return "; ".join(parts)


SCORE_LABELS = (
    ("mcd_db", "MCD dB", ".2f"), ("f0_rmse_cents", "F0 RMSE cents", ".0f"), ("speaker_similarity", "speaker", ".3f"),
    ("content_similarity", "content", ".3f"),
)  # fmt: skip


def card_fields(epoch: int, step: int, sample_rate: str, version: str, f0: bool, dataset_seconds: float | None) -> dict:
    """The ``info`` text and extra keys stored in a small model at export."""
    info = f"{epoch}epoch {step}step; {sample_rate} {version} {'with' if f0 else 'without'} pitch"
    if dataset_seconds:
        info += f"; {dataset_seconds / 60:.1f} min of data"
    extra: dict[str, Any] = {"epoch": int(epoch), "step": int(step)}
    if dataset_seconds:
        extra["dataset_seconds"] = round(float(dataset_seconds), 1)
    return {"info": info, **extra}


def read_card(path: Path) -> ModelCard:
    """Reads a small model's card (loaded with ``weights_only=True``).

    Raises:
        ModelFileError: the file is not a small RVC model (a training checkpoint, a pickle with code, other data).
    """
    import torch

    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelFileError(f"{path.name} is not a loadable RVC model ({type(e).__name__}: {str(e)[:200]})") from e
    if not isinstance(data, dict) or not isinstance(data.get("weight"), dict) or "config" not in data:
        hint = " (a training checkpoint: export it first)" if isinstance(data, dict) and "model" in data else ""
        raise ModelFileError(f"{path.name} is not a small RVC model{hint}")
    sr = data.get("sr")
    if isinstance(sr, int):
        sr = next((k for k, v in SAMPLE_RATES.items() if v == sr), str(sr))

    def num(key: str, kind: type) -> Any:
        v = data.get(key)
        return kind(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    return ModelCard(
        name=path.stem,
        sample_rate=str(sr),
        version=str(data.get("version", "v1")),
        f0=bool(int(data.get("f0", 1))),
        info=str(data.get("info", "")),
        epoch=num("epoch", int),
        step=num("step", int),
        dataset_seconds=num("dataset_seconds", float),
        scores=_scores(data.get("scores")),
        best_epoch=num("best_epoch", int),
        best_score=num("best_score", float),
    )


def _scores(v: Any) -> dict[str, float] | None:
    if not isinstance(v, dict):
        return None
    return {str(k): float(x) for k, x in v.items() if isinstance(x, (int, float)) and not isinstance(x, bool)} or None


def export_package(model: Path, index: Path | None, out: Path | None = None) -> Path:
    """Writes ``<model stem>.zip`` (next to the model unless ``out``): the small model and, when given, its index.
    Written to a temporary file and renamed."""
    model = Path(model)
    read_card(model)  # refuse to package something that is not a model
    out = Path(out) if out else model.with_suffix(".zip")
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        # models and indexes barely compress: stored, so export and import are disk-speed
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
            z.write(model, model.name)
            if index is not None:
                z.write(index, Path(index).name)

    write_with(out, write)
    return out.resolve()


@dataclass
class Imported:
    model: Path
    index: Path | None
    card: ModelCard


def import_package(archive: Path, dest: Path) -> Imported:
    """Unpacks a model zip (or copies a bare ``.pth``) into ``dest``. A zip: ours, or the ones people share: one ``.pth``, at most one ``.index``, anywhere in the
    archive, other files ignored) into ``dest``. Member paths are never used as paths (only their base names),
    sizes are bounded, and the model is checked before anything is kept.

    Raises:
        RvcError: not a zip, no model or several in it, a member too large. A different file already under a
            member's name is kept; the new one gets a free name (``name-2.pth``).
    """
    archive, dest = Path(archive), Path(dest)
    if archive.suffix.lower() == ".pth":  # a bare small model
        card = read_card(archive)
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / archive.name
        if not target.exists() or not filecmp.cmp(archive, target, shallow=False):
            target = _free_name(target) if target.exists() else target
            write_with(target, lambda tmp: _copy(archive, tmp))
        return Imported(target, None, replace(card, name=target.stem))
    try:
        z = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise RvcError(f"{archive.name} is not a zip archive") from e
    with z:
        members = [m for m in z.infolist() if not m.is_dir()]
        models = [m for m in members if m.filename.lower().endswith(".pth") and "/__macosx/" not in f"/{m.filename}"]
        indexes = [m for m in members if m.filename.lower().endswith(".index")]
        # a package carrying training checkpoints next to the small model: the small model is the one not G_/D_
        models = [m for m in models if not _base(m.filename).startswith(("G_", "D_"))] or models
        if len(models) != 1:
            found = ", ".join(_base(m.filename) for m in models) or "none"
            raise RvcError(f"{archive.name} must hold exactly one model .pth (found: {found})")
        indexes = [i for i in indexes if _base(i.filename).startswith("added_")] or indexes
        for m in [models[0], *indexes[:1]]:
            if m.file_size > MAX_MEMBER_BYTES:
                raise RvcError(f"{_base(m.filename)} in {archive.name} is too large ({m.file_size / 1e9:.1f} GB)")
        dest.mkdir(parents=True, exist_ok=True)
        model_path = _extract(z, models[0], dest)
        try:
            card = read_card(model_path)
        except ModelFileError:
            model_path.unlink(missing_ok=True)
            raise
        index_path = _extract(z, indexes[0], dest) if indexes else None
    return Imported(model_path, index_path, card)


def _copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _extract(z: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path) -> Path:
    name = _base(member.filename)
    if not name or name.startswith(".") or name in ("..", "."):
        raise RvcError(f"unusable file name in the archive: {member.filename!r}")
    target = dest / name
    tmp = temp_path(target)
    try:
        with z.open(member) as src, open(tmp, "wb") as dst:
            written = 0
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > MAX_MEMBER_BYTES:
                    raise RvcError(f"{name} unpacks to more than {MAX_MEMBER_BYTES / 1e9:.0f} GB")
                dst.write(chunk)
        if target.exists() and not filecmp.cmp(tmp, target, shallow=False):
            target = _free_name(target)  # another model of that name is kept as it is
        commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _free_name(path: Path) -> Path:
    for i in range(2, 10_000):
        candidate = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise RvcError(f"no free name for {path.name}")
