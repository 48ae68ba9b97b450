"""Voice conversion with a trained model, the reference pipeline (§7 of the reference notes):

16 kHz input -> zero-phase 48 Hz high-pass -> long inputs cut at their quietest points near every ``x_center``
seconds -> pitch once over the padded whole (transposed) -> per chunk: HuBERT features, retrieval from the index
(``index_rate``), 2x time repeat, ``protect`` for unvoiced frames, the generator -> chunks trimmed of their padding
and joined -> RMS envelope mix -> optional resampling -> peak limit 0.99.

One deliberate difference: the retrieval weights ``1 / d²`` (faiss returns squared distances, so ``1 / score²``)
are computed with the score floored at 1e-12, so an exact match gets a large weight instead of the reference's
inf/NaN.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rvc.audio.io import decode_audio, resample
from rvc.core.errors import RvcError

logger = logging.getLogger(__name__)

SR16 = 16000
HOP = 160
FORMATS = ("wav", "flac", "mp3", "ogg")
MP3_RATES = (32000, 44100, 48000, 16000, 22050, 24000)


@dataclass(frozen=True)
class ConvertConfig:
    transpose: float = 0.0  # semitones
    f0_method: str = "rmvpe"
    index: Path | None = None
    index_rate: float = 0.75
    filter_radius: int = 3  # harvest: a 3-point median filter when > 2 (as the reference)
    rms_mix_rate: float = 0.25  # 1: keep the output's loudness envelope; 0: take the input's
    protect: float = 0.33  # < 0.5: unvoiced frames keep this much retrieval (0.5 turns protection off)
    resample_sr: int = 0  # 0: the model's rate
    speaker: int = 0
    device: str = "auto"
    embedder: Path | None = None
    rmvpe: Path | None = None
    x_pad: float = 1.0  # seconds of context on each side of a chunk
    x_query: float = 6.0  # search window for the quietest cut point
    x_center: float = 38.0  # chunk length
    x_max: float = 41.0  # inputs longer than this are chunked
    stream_above: float = 300.0  # seconds: longer inputs are filtered, converted and written part by part

    def __post_init__(self) -> None:
        if not 0.0 <= self.index_rate <= 1.0:
            raise ValueError("index rate must be between 0 and 1")
        if not 0.0 <= self.protect <= 0.5:
            raise ValueError("protect must be between 0 and 0.5")
        if not 0.0 <= self.rms_mix_rate <= 1.0:
            raise ValueError("RMS mix rate must be between 0 and 1")
        if not -48 <= self.transpose <= 48:
            raise ValueError("transpose must be within ±48 semitones")


@dataclass
class ConvertResult:
    output: Path | None
    sample_rate: int
    seconds: float
    chunks: int
    timings: dict[str, float]


def retrieval_weights(score: np.ndarray, ix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the weights of the k retrieved vectors: ``1 / score²`` normalised (faiss's scores are squared
    distances), with the score floored at 1e-12 so an exact hit (score 0) dominates instead of giving NaN.
    Labels -1 (the probed list held fewer than k vectors) get weight 0; returns (weights, rows with any hit)."""
    valid = np.ones(score.shape, bool) if ix is None else ix >= 0
    w = np.where(valid, 1.0 / np.maximum(score.astype(np.float64), 1e-12) ** 2, 0.0)
    total = w.sum(axis=1, keepdims=True)
    found = valid.any(axis=1)
    return (w / np.where(total > 0, total, 1.0)).astype(np.float32), found


def cut_points(x: np.ndarray, cfg: ConvertConfig) -> list[int]:
    """Sample positions (multiples of 160) where a long input is cut: near every ``x_center`` s, at the quietest
    160-sample stretch within ±``x_query`` s."""
    t_center, t_query, t_max = (int(SR16 * v) for v in (cfg.x_center, cfg.x_query, cfg.x_max))
    if len(x) <= t_max:
        return []
    padded = np.pad(x, (HOP // 2, HOP // 2), mode="reflect")
    loud = np.convolve(np.abs(padded), np.ones(HOP), mode="valid")[: len(x)]  # 160-sample moving sum
    points = []
    for t in range(t_center, len(x), t_center):
        lo, hi = max(0, t - t_query), min(len(loud), t + t_query)
        if hi <= lo:
            break
        points.append(int(lo + np.argmin(loud[lo:hi])) // HOP * HOP)
    return sorted(set(p for p in points if 0 < p < len(x)))


class Converter:
    """A loaded model (and embedder, index, pitch estimator) that converts 16 kHz audio."""

    def __init__(self, model: Path, cfg: ConvertConfig, on_progress: Callable[[str], None] | None = None) -> None:
        from rvc.content import hubert
        from rvc.hub import weights
        from rvc.models.synthesizer import load_generator
        from rvc.nn.devices import resolve_device
        from rvc.pitch.methods import make_estimator

        say = on_progress or (lambda _m: None)
        self.cfg = cfg
        self.pitch_seconds = 0.0  # of the last streamed conversion
        self.device = resolve_device(cfg.device)
        say("loading the model")
        self.net = load_generator(model).to(self.device)
        c = self.net.cfg
        self.sr, self.version, self.f0 = c.sampling_rate, c.version, c.f0
        if cfg.speaker >= c.spk_embed_dim:
            raise RvcError(f"speaker {cfg.speaker} does not exist: this model has {c.spk_embed_dim}")
        say("loading the content encoder")
        self.embedder = hubert.load_embedder(cfg.embedder or weights.ensure("hubert_base"), self.device)
        self.index_vectors = None
        if cfg.index is not None and cfg.index_rate > 0:
            self.index, self.index_vectors = _load_index(Path(cfg.index), 256 if self.version == "v1" else 768)
        self.estimate = None
        if self.f0:
            say(f"loading pitch ({cfg.f0_method})")
            rm = cfg.rmvpe or (weights.ensure("rmvpe") if cfg.f0_method == "rmvpe" else None)
            self.estimate = make_estimator(cfg.f0_method, rmvpe_path=rm, device=self.device)

    def pitch(self, x: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
        from scipy.signal import medfilt

        from rvc.pitch.methods import coarse_f0

        f0 = self.estimate(x)
        if self.cfg.f0_method == "harvest" and self.cfg.filter_radius > 2:
            f0 = medfilt(f0, 3)
        f0 = f0 * 2 ** (self.cfg.transpose / 12)
        f0 = np.pad(f0, (0, max(0, frames - len(f0))))[:frames]
        return coarse_f0(f0), f0.astype(np.float32)

    def _chunk(self, x: np.ndarray, coarse: np.ndarray | None, f0: np.ndarray | None) -> np.ndarray:
        cfg = self.cfg
        feats = torch.from_numpy(self.embedder.features([x], self.version)[0])
        base = feats.clone() if (self.f0 and cfg.protect < 0.5) else None
        if self.index_vectors is not None:
            score, ix = self.index.search(feats.numpy(), 8)
            w, found = retrieval_weights(score, ix)
            retrieved = (self.index_vectors[np.maximum(ix, 0)] * w[..., None]).sum(axis=1).astype(np.float32)
            # a frame whose probed list held no vector keeps its own features
            retrieved = torch.from_numpy(np.where(found[:, None], retrieved, feats.numpy()))
            feats = cfg.index_rate * retrieved + (1 - cfg.index_rate) * feats
        feats = feats.repeat_interleave(2, dim=0)
        n = min(len(x) // HOP, len(feats), len(coarse) if coarse is not None else len(feats))
        feats = feats[:n]
        pitch = pitchf = None
        if self.f0:
            pitch, pitchf = torch.from_numpy(coarse[:n]).long()[None], torch.from_numpy(f0[:n])[None]
            if base is not None:
                base = base.repeat_interleave(2, dim=0)[:n]
                mask = torch.where(pitchf[0] > 0, 1.0, cfg.protect)[:, None]
                feats = feats * mask + base * (1 - mask)
        d = self.device
        sid = torch.tensor([cfg.speaker], device=d)
        args = (pitch.to(d), pitchf.to(d), sid) if self.f0 else (sid,)
        with torch.inference_mode():
            audio = self.net.infer(feats[None].to(d), torch.tensor([n], device=d), *args)[0]
        return audio[0, 0].float().cpu().numpy()

    def convert(
        self, x16: np.ndarray, on_progress: Callable[[str], None] | None = None
    ) -> tuple[np.ndarray, int, dict[str, Any]]:
        """16 kHz mono float32 -> (audio, sample rate, details)."""
        from scipy import signal

        say = on_progress or (lambda _m: None)
        cfg, timings = self.cfg, {}
        t0 = time.monotonic()
        peak = float(np.abs(x16).max()) if len(x16) else 0.0
        if peak / 0.95 > 1:
            x16 = x16 / (peak / 0.95)
        sos = signal.butter(5, 48, btype="high", fs=SR16, output="sos")
        x = signal.sosfiltfilt(sos, x16).astype(np.float32)  # zero-phase here, as the reference converts
        t_pad = int(SR16 * cfg.x_pad)
        t_pad_tgt = int(self.sr * cfg.x_pad)
        cuts = cut_points(x, cfg)
        # one hop more at the end than the reference, so the last part is not a frame short either
        padded = np.pad(x, (t_pad, t_pad + HOP), mode="reflect" if len(x) > t_pad + HOP else "constant")
        frames = len(padded) // HOP
        coarse = f0 = None
        if self.f0:
            say("pitch")
            coarse, f0 = self.pitch(padded, frames)
        timings["pitch"] = round(time.monotonic() - t0, 3)
        pieces, start = [], 0
        bounds = [*cuts, len(x)]
        for i, end in enumerate(bounds):
            say(f"converting part {i + 1}/{len(bounds)}")
            seg = padded[start : end + 2 * t_pad + HOP]  # one hop more, as the reference: no frame short at the end
            fs = slice(start // HOP, (end + 2 * t_pad + HOP) // HOP)
            out = self._chunk(seg, coarse[fs] if coarse is not None else None, f0[fs] if f0 is not None else None)
            pieces.append(out[t_pad_tgt : len(out) - t_pad_tgt])
            start = end
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        audio = audio[: round(len(x) * self.sr / SR16)]  # the input's duration, to the sample
        timings["convert"] = round(time.monotonic() - t0 - timings["pitch"], 3)
        if cfg.rms_mix_rate < 1:
            audio = mix_rms(x16, SR16, audio, self.sr, cfg.rms_mix_rate)
        sr = self.sr
        if cfg.resample_sr >= 16000 and cfg.resample_sr != sr:
            audio, sr = resample(audio.astype(np.float32), sr, cfg.resample_sr), cfg.resample_sr
        peak = float(np.abs(audio).max()) if len(audio) else 0.0
        if peak / 0.99 > 1:
            audio = audio / (peak / 0.99)
        timings["total"] = round(time.monotonic() - t0, 3)
        return audio.astype(np.float32), sr, {"chunks": len(bounds), "timings": timings}

    def stream(
        self, x16: np.ndarray, out_rate: int, on_progress: Callable[[str], None] | None = None
    ) -> Iterator[np.ndarray]:
        """Converts a long input part by part, in bounded memory: each part (cut at quiet points as in
        :meth:`convert`) is high-passed, pitched and converted with ``x_pad`` seconds of context on each side,
        given the input's loudness envelope (``rms_mix_rate``) and resampled to ``out_rate``; the pieces are
        yielded in order, before the final peak limit (the caller applies it over the whole)."""
        import soxr
        from scipy import signal

        say = on_progress or (lambda _m: None)
        cfg = self.cfg
        self.pitch_seconds = 0.0
        t_pad, t_pad_tgt = int(SR16 * cfg.x_pad), int(self.sr * cfg.x_pad)
        sos = signal.butter(5, 48, btype="high", fs=SR16, output="sos")
        bounds = [*cut_points(x16, cfg), len(x16)]
        rate_out = self.sr
        resampler = (
            soxr.ResampleStream(rate_out, out_rate, 1, dtype="float32", quality="HQ") if out_rate != rate_out else None
        )
        start, done = 0, 0
        for i, end in enumerate(bounds):
            say(f"converting part {i + 1}/{len(bounds)}")
            seg = _context(x16, start - t_pad, end + t_pad + HOP)
            seg = signal.sosfiltfilt(sos, seg).astype(np.float32)
            coarse = f0 = None
            if self.f0:
                t = time.monotonic()
                coarse, f0 = self.pitch(seg, len(seg) // HOP)
                self.pitch_seconds += time.monotonic() - t
            out = self._chunk(seg, coarse, f0)
            out = out[t_pad_tgt : len(out) - t_pad_tgt]
            want = round(end * self.sr / SR16) - done  # the input's duration, to the sample, over all parts
            out = np.pad(out, (0, max(0, want - len(out))))[:want]
            done += len(out)
            if cfg.rms_mix_rate < 1:
                out = mix_rms(x16[start:end], SR16, out, self.sr, cfg.rms_mix_rate)
            if resampler is not None:
                out = resampler.resample_chunk(out.astype(np.float32), last=i == len(bounds) - 1)
            yield out.astype(np.float32)
            start = end
            _give_back_memory()  # parts differ in length: without this the allocator keeps every size it saw


def _give_back_memory() -> None:
    """Returns freed heap pages to the system (glibc's ``malloc_trim``; a no-op elsewhere)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _context(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``x[lo:hi]``, reflected where it runs past either end (as padding the whole input would give)."""
    n = len(x)
    left, right = max(0, -lo), max(0, hi - n)
    core = x[max(0, lo) : min(n, hi)]
    if left or right:
        mode = "reflect" if len(core) > max(left, right) else "constant"
        core = np.pad(core, (left, right), mode=mode)
    return core.astype(np.float32, copy=False)


def _load_index(path: Path, dim: int) -> tuple[Any, np.ndarray]:
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


def mix_rms(x_in: np.ndarray, sr_in: int, out: np.ndarray, sr_out: int, rate: float) -> np.ndarray:
    """Gives the output ``1 - rate`` of the input's loudness envelope (0.5 s RMS frames, interpolated)."""
    from rvc.audio.slicer import frame_rms

    def envelope(x: np.ndarray, sr: int) -> np.ndarray:
        r = frame_rms(x, sr // 2 * 2, sr // 2)
        t = torch.from_numpy(r.astype(np.float32))[None, None]
        return torch.nn.functional.interpolate(t, size=len(out), mode="linear")[0, 0].numpy()

    if len(out) == 0:
        return out
    e_in, e_out = envelope(x_in, sr_in), np.maximum(envelope(out, sr_out), 1e-6)
    return out * e_in ** (1 - rate) * e_out ** (rate - 1)


CODECS = {  # format -> (encoder, sample format)
    "wav": ("pcm_s16le", "s16"),
    "flac": ("flac", "s16"),
    "mp3": ("libmp3lame", "s16p"),
    "ogg": ("libopus", "flt"),
}


def encodable_rate(sr: int, fmt: str) -> int:
    """The rate ``fmt`` is written at: MP3 has no 40 kHz and Opus runs at 48 kHz (those become 48 kHz)."""
    return 48000 if (fmt == "mp3" and sr not in MP3_RATES) or (fmt == "ogg" and sr != 48000) else sr


def write_audio(path: Path, audio: np.ndarray, sr: int, fmt: str) -> int:
    """Writes through FFmpeg (PyAV): wav (16-bit PCM, as the reference returns), flac, mp3, or ogg (Opus: the
    bundled FFmpeg has no libvorbis), resampled (soxr) where the format needs it. Returns the rate written."""
    if fmt not in FORMATS:
        raise RvcError(f"output format must be one of {', '.join(FORMATS)}")
    rate = encodable_rate(sr, fmt)
    if rate != sr:
        audio = resample(audio.astype(np.float32), sr, rate)
    write_audio_stream(path, [audio], rate, fmt)
    return rate


def write_audio_stream(path: Path, blocks: Iterable[np.ndarray], sr: int, fmt: str, gain: float = 1.0) -> None:
    """Encodes blocks of mono float32 audio (already at a rate ``fmt`` accepts) one after another, times ``gain``;
    written to a temporary file and renamed."""
    import av

    codec, sample_fmt = CODECS[fmt]
    tmp = path.with_name(f".{path.name}.tmp.{fmt}")
    try:
        with av.open(str(tmp), "w", format=fmt) as out:
            stream = out.add_stream(codec, rate=sr, layout="mono")
            for block in blocks:
                block = np.clip(block * gain, -1, 1)
                data = block.astype(np.float32) if sample_fmt == "flt" else (block * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(data[None], format=sample_fmt, layout="mono")
                frame.sample_rate = sr
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _convert_long(
    converter: Converter, x: np.ndarray, output: Path, fmt: str, on_progress: Callable[[str], None] | None
) -> tuple[int, float, int, dict[str, float]]:
    """The streaming path: parts go to a raw float32 file next to the output (the peak is known only at the
    end), then that file is encoded in blocks with the final gain. Memory stays that of a few parts."""
    t0 = time.monotonic()
    cfg = converter.cfg
    sr = encodable_rate(cfg.resample_sr if cfg.resample_sr >= 16000 else converter.sr, fmt)
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak / 0.95 > 1:
        x = x / (peak / 0.95)
    raw = output.with_name(f".{output.name}.parts.f32")
    n, peak, parts = 0, 0.0, 0
    try:
        with open(raw, "wb") as f:
            for piece in converter.stream(x, sr, on_progress):
                f.write(piece.tobytes())
                n += len(piece)
                parts += 1
                if len(piece):
                    peak = max(peak, float(np.abs(piece).max()))
        gain = 1.0 / (peak / 0.99) if peak / 0.99 > 1 else 1.0
        block = 10 * sr

        def blocks() -> Iterator[np.ndarray]:
            with open(raw, "rb") as f:
                while chunk := f.read(block * 4):
                    yield np.frombuffer(chunk, np.float32)

        write_audio_stream(output, blocks(), sr, fmt, gain)
    finally:
        raw.unlink(missing_ok=True)
    total = time.monotonic() - t0
    pitch = converter.pitch_seconds
    return sr, n / sr, parts, {"pitch": round(pitch, 3), "convert": round(total - pitch, 3), "total": round(total, 3)}


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
    if fmt not in FORMATS:
        raise RvcError(f"output format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    from rvc.core.errors import AudioDecodeError

    try:
        x = decode_audio(Path(source), SR16).samples
    except AudioDecodeError as e:
        raise AudioDecodeError(f"{Path(source).name}: {e}") from e
    if len(x) < SR16 // 10:
        raise RvcError(f"{Path(source).name} is too short to convert ({len(x) / SR16:.2f} s)")
    converter = Converter(Path(model), cfg, on_progress)
    return _convert_to(converter, x, Path(output), fmt, on_progress)


def _convert_to(
    converter: Converter, x: np.ndarray, output: Path, fmt: str, on_progress: Callable[[str], None] | None
) -> ConvertResult:
    if len(x) > converter.cfg.stream_above * SR16:
        sr, seconds, parts, timings = _convert_long(converter, x, output, fmt, on_progress)
        return ConvertResult(output, sr, round(seconds, 3), parts, timings)
    audio, sr, info = converter.convert(x, on_progress)
    written_sr = write_audio(output, audio, sr, fmt)
    return ConvertResult(output, written_sr, round(len(audio) / sr, 3), info["chunks"], info["timings"])


@dataclass
class BatchItem:
    source: Path
    result: ConvertResult | None
    error: str = ""


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
    if fmt not in FORMATS:
        raise RvcError(f"output format must be one of {', '.join(FORMATS)}, not {fmt!r}")
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
    from rvc.core.errors import AudioDecodeError

    say = on_progress or (lambda _m: None)
    output_dir = Path(output_dir)
    if fmt not in FORMATS:
        raise RvcError(f"output format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not files:
        raise RvcError("no files to convert")
    output_dir.mkdir(parents=True, exist_ok=True)
    converter = Converter(Path(model), cfg, on_progress)
    items, used = [], set()
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
