"""What a trained voice is when it leaves the experiment: the small model's card (its ``info`` and extra keys)
and the ``<name>.zip`` package users share (the small model and its index), exported and imported safely.

The small model keeps the reference's layout; the extra top-level keys are Applio's (``epoch``, ``step``,
``model_name``, ``creation_date``, ``dataset_length`` as ``"HH:MM:SS"``, ``embedder_model``, ``speakers_id``,
``vocoder``, ``author``: Applio shows them, RVC WebUI ignores them) and ours (``dataset_seconds``, ``scores``…);
``info`` starts with the reference's ``"<epoch>epoch"``. Applio's models are read the same way.
"""

from __future__ import annotations

import filecmp
import logging
import re
import shutil
import stat
import zipfile
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rvc.core.errors import ModelFileError, RvcError
from rvc.core.files import commit, temp_path, write_with

logger = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 2 * 1024**3  # a small model is ~55 MB, an index of an hour of speech a few hundred MB
MAX_TOTAL_BYTES = 8 * 1024**3  # everything an archive declares it unpacks to
MAX_RATIO = 100  # models and indexes barely compress (about 1.1:1); a member packed 100:1 or more is a bomb
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
    embedder: str | None = None  # Applio's ``embedder_model``: "contentvec", "spin-v2"…, "custom"; None: not recorded
    vocoder: str = "HiFi-GAN"  # Applio's ``vocoder``; RVC WebUI models have the HiFi-GAN one
    model_name: str | None = None  # the name it was trained under (Applio's ``model_name``)
    author: str | None = None
    creation_date: str | None = None
    speakers: int | None = None  # Applio's ``speakers_id``

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
        parts.append(f"embedder {self.embedder or 'not recorded (contentvec assumed)'}")
        if self.vocoder != "HiFi-GAN":
            parts.append(f"vocoder {self.vocoder}")
        made = [
            f"by {self.author}" if self.author else "",
            f"on {self.creation_date[:10]}" if self.creation_date else "",
        ]
        if any(made):
            parts.append(" ".join(m for m in ["made", *made] if m))
        if self.info and self.epoch is None:
            parts.append(f"info: {self.info}")
        return "; ".join(parts)


SCORE_LABELS = (
    ("mcd_db", "MCD dB", ".2f"), ("f0_rmse_cents", "F0 RMSE cents", ".0f"), ("speaker_similarity", "speaker", ".3f"),
    ("content_similarity", "content", ".3f"),
)  # fmt: skip


@dataclass(frozen=True)
class CardFacts:
    """What an experiment knows of the model it exports (the arguments of :func:`card_fields`)."""

    name: str
    epoch: int
    step: int
    sample_rate: str
    version: str
    f0: bool
    dataset_seconds: float | None = None
    embedder: str = "contentvec"


def card_fields(facts: CardFacts) -> dict[str, Any]:
    """The ``info`` text and extra keys stored in a small model at export (Applio's keys and ours)."""
    f = facts
    info = f"{f.epoch}epoch {f.step}step; {f.sample_rate} {f.version} {'with' if f.f0 else 'without'} pitch"
    if f.dataset_seconds:
        info += f"; {f.dataset_seconds / 60:.1f} min of data"
    extra: dict[str, Any] = {
        "epoch": int(f.epoch), "step": int(f.step), "model_name": f.name,
        "creation_date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "embedder_model": f.embedder,
        "speakers_id": 1, "vocoder": "HiFi-GAN", "author": None,
    }  # fmt: skip
    if f.dataset_seconds:
        extra["dataset_seconds"] = round(float(f.dataset_seconds), 1)
        extra["dataset_length"] = _hms(f.dataset_seconds)
    return {"info": info, **extra}


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02}:{s % 3600 // 60:02}:{s % 60:02}"


def _seconds(data: dict[str, Any]) -> float | None:
    """Training audio seconds: ours (``dataset_seconds``) or Applio's ``dataset_length`` ("HH:MM:SS" or seconds)."""
    v = data.get("dataset_seconds", data.get("dataset_length"))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            h, m, s = (float(x) for x in v.split(":"))
        except ValueError:
            return None
        return h * 3600 + m * 60 + s
    return None


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

    def text(key: str) -> str | None:
        v = data.get(key)
        return str(v) if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v) else None

    return ModelCard(
        name=path.stem,
        sample_rate=str(sr),
        version=str(data.get("version", "v1")),
        f0=bool(int(data.get("f0", 1))),
        info=str(data.get("info", "")),
        epoch=num("epoch", int),
        step=num("step", int),
        dataset_seconds=_seconds(data),
        scores=_scores(data.get("scores")),
        best_epoch=num("best_epoch", int),
        best_score=num("best_score", float),
        embedder=text("embedder_model"),
        vocoder=text("vocoder") or "HiFi-GAN",
        model_name=text("model_name"),
        author=text("author"),
        creation_date=text("creation_date"),
        speakers=num("speakers_id", int),
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
    model: Path | None  # None: an index alone was imported
    index: Path | None
    card: ModelCard | None

    def summary(self) -> str:
        parts = [self.card.summary()] if self.card else []
        if self.index is not None:
            parts.append(f"index {self.index.name}")
        return "; ".join(parts) or "nothing imported"


def import_package(archive: Path, dest: Path, name: str | None = None) -> Imported:
    """Unpacks a model zip (or copies a bare ``.pth`` or ``.index``) into ``dest``, as ``<name>.pth`` and
    ``<name>.index`` when ``name`` is given. A zip: ours, or the ones people share (one ``.pth``, at most one
    ``.index``, anywhere in the archive, other files ignored). Member paths are never used as paths (only their
    base names), sizes are bounded, and the model is checked before anything is kept.

    Raises:
        RvcError: not a zip, no model or several in it, a member too large. A different file already under a
            member's name is kept; the new one gets a free name (``name-2.pth``).
    """
    archive, dest = Path(archive), Path(dest)
    as_model, as_index = (f"{name}.pth", f"{name}.index") if name else (None, None)
    if archive.suffix.lower() == ".pth":  # a bare small model
        card = read_card(archive)
        target = place_file(archive, dest, as_model)
        return Imported(target, None, replace(card, name=target.stem))
    if archive.suffix.lower() == ".index":  # an index alone
        return Imported(None, place_file(archive, dest, as_index), None)
    try:
        z = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise RvcError(f"{archive.name} is not a zip archive") from e
    with z:
        check_archive(z, archive.name)
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
        model_path = _extract(z, models[0], dest, as_model)
        try:
            card = read_card(model_path)
        except ModelFileError:
            model_path.unlink(missing_ok=True)
            raise
        index_path = _extract(z, indexes[0], dest, as_index) if indexes else None
    return Imported(model_path, index_path, replace(card, name=model_path.stem))


def place_file(src: Path, dest: Path, name: str | None = None) -> Path:
    """Copies ``src`` into folder ``dest`` (as ``name``), atomically; the same file already there is reused, a
    different one of that name kept (the copy gets a free name)."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / (name or src.name)
    if target.exists() and filecmp.cmp(src, target, shallow=False):
        return target
    target = _free_name(target) if target.exists() else target
    write_with(target, lambda tmp: _copy(src, tmp))
    return target


def _copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)


def check_archive(z: zipfile.ZipFile, label: str) -> None:
    """Refuses a hostile zip before anything is unpacked: an entry that points outside the folder it unpacks to
    (absolute, ``..``, a drive letter), a symbolic link, or a bomb (total size or compression ratio).

    Raises:
        RvcError: naming the entry and what is wrong with it; nothing has been written.
    """
    total = 0
    for m in z.infolist():
        name = m.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"):
            raise RvcError(f"{label} is unsafe: the entry {m.filename!r} points outside the folder; nothing imported")
        if stat.S_ISLNK(m.external_attr >> 16):
            raise RvcError(f"{label} holds a symbolic link ({m.filename!r}); nothing imported")
        total += m.file_size
        if m.file_size > 1 << 20 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise RvcError(
                f"{label} is a zip bomb: {m.filename!r} unpacks {m.file_size / max(m.compress_size, 1):.0f}:1; "
                "nothing imported"
            )
    if total > MAX_TOTAL_BYTES:
        raise RvcError(
            f"{label} unpacks to {total / 1e9:.1f} GB, more than {MAX_TOTAL_BYTES / 1e9:.0f} GB; nothing imported"
        )


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _extract(z: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path, as_name: str | None = None) -> Path:
    name = as_name or _base(member.filename)
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
