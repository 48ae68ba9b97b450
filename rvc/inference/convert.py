"""Voice conversion of files with a trained model: one recording (:func:`convert_file`), a batch loading the
model once (:func:`convert_files`, :func:`convert_folder`). Inputs longer than ``stream_above`` seconds are
converted and written part by part (:mod:`rvc.inference.stream`); the engine is :mod:`rvc.inference.converter`,
the retrieval from the index :mod:`rvc.inference.retrieval`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rvc.audio.encode import FORMATS, check_format, write_audio
from rvc.audio.io import decode_audio
from rvc.core.errors import AudioDecodeError, RvcError
from rvc.inference.config import ConvertConfig
from rvc.inference.converter import SR16, Converter, cut_points
from rvc.inference.stream import convert_long

__all__ = [
    "FORMATS",
    "BatchItem",
    "ConvertConfig",
    "ConvertResult",
    "Converter",
    "convert_file",
    "convert_files",
    "convert_folder",
    "cut_points",
    "decode_audio",
]

logger = logging.getLogger(__name__)


@dataclass
class ConvertResult:
    output: Path | None
    sample_rate: int
    seconds: float
    chunks: int
    timings: dict[str, float]
    precision: str = ""  # what the generator ran in, and why (the Converter's precision_note)
    embedder: str = ""  # the content encoder used: the model's own (or the custom one given)


@dataclass
class BatchItem:
    source: Path
    result: ConvertResult | None
    error: str = ""


def _decode(source: Path) -> np.ndarray:
    """16 kHz mono samples of ``source``.

    Raises:
        AudioDecodeError: not decodable (the file's name in the message); RvcError: under 0.1 s."""
    try:
        x = decode_audio(source, SR16).samples
    except AudioDecodeError as e:
        raise AudioDecodeError(f"{source.name}: {e}") from e
    if len(x) < SR16 // 10:
        raise RvcError(f"{source.name} is too short to convert ({len(x) / SR16:.2f} s)")
    return x


def convert_file(
    model: Path,
    source: Path,
    output: Path,
    cfg: ConvertConfig,
    fmt: str | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ConvertResult:
    """Converts ``source`` (any file FFmpeg decodes) and writes ``output`` (format from ``fmt`` or its extension)."""
    fmt = fmt or Path(output).suffix.lstrip(".").lower() or "wav"
    check_format(fmt)
    x = _decode(Path(source))
    converter = Converter(Path(model), cfg, on_progress)
    return _convert_to(converter, x, Path(output), fmt, on_progress)


def _convert_to(
    converter: Converter, x: np.ndarray, output: Path, fmt: str, on_progress: Callable[[str], None] | None
) -> ConvertResult:
    if len(x) > converter.cfg.stream_above * SR16:
        sr, seconds, parts, timings = convert_long(converter, x, output, fmt, on_progress)
        return ConvertResult(
            output, sr, round(seconds, 3), parts, timings, converter.precision_note, converter.embedder_name
        )
    audio, sr, info = converter.convert(x, on_progress)
    written_sr = write_audio(output, audio, sr, fmt)
    seconds = round(len(audio) / sr, 3)
    return ConvertResult(
        output, written_sr, seconds, info["chunks"], info["timings"], converter.precision_note, converter.embedder_name
    )


def convert_folder(
    model: Path,
    source_dir: Path,
    output_dir: Path,
    cfg: ConvertConfig,
    fmt: str = "wav",
    on_progress: Callable[[str], None] | None = None,
) -> list[BatchItem]:
    """Converts every file at the top level of ``source_dir`` into ``output_dir`` (see :func:`convert_files`)."""
    source_dir, output_dir = Path(source_dir), Path(output_dir)
    check_format(fmt)
    if not source_dir.is_dir():
        raise RvcError(f"{source_dir} is not a folder")
    files = sorted(f for f in source_dir.iterdir() if f.is_file() and not f.name.startswith("."))
    if not files:
        raise RvcError(f"{source_dir} has no files at its top level")
    if output_dir.resolve() == source_dir.resolve():
        raise RvcError("the output folder must differ from the input folder (inputs are never overwritten)")
    return convert_files(model, files, output_dir, cfg, fmt, on_progress)


def convert_files(
    model: Path,
    files: list[Path],
    output_dir: Path,
    cfg: ConvertConfig,
    fmt: str = "wav",
    on_progress: Callable[[str], None] | None = None,
) -> list[BatchItem]:
    """Converts each file into ``output_dir/<stem>.<fmt>``, loading the model once; a stem met again in the batch
    (``take.wav``, ``take.mp3``) gets ``-2``, ``-3`` …, so no result overwrites another. A file that cannot be
    decoded (or is too short) is reported in its item and skipped."""
    say = on_progress or (lambda _m: None)
    output_dir = Path(output_dir)
    check_format(fmt)
    if not files:
        raise RvcError("no files to convert")
    output_dir.mkdir(parents=True, exist_ok=True)
    converter = Converter(Path(model), cfg, on_progress)
    items: list[BatchItem] = []
    used: set[str] = set()
    for i, f in enumerate(map(Path, files), 1):
        say(f"[{i}/{len(files)}] {f.name}")
        stem, n = f.stem, 1
        while stem.lower() in used:
            n += 1
            stem = f"{f.stem}-{n}"
        try:
            x = decode_audio(f, SR16).samples
            if len(x) < SR16 // 10:
                raise RvcError(f"too short to convert ({len(x) / SR16:.2f} s)")
            items.append(BatchItem(f, _convert_to(converter, x, output_dir / f"{stem}.{fmt}", fmt, None)))
            used.add(stem.lower())
        except (AudioDecodeError, RvcError) as e:
            logger.warning("skipped %s: %s", f.name, e)
            items.append(BatchItem(f, None, str(e)))
    return items
