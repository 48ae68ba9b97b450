"""Training data for Step 3, as the reference builds it: the filelist (with two silent clips), spectrograms,
the 50 -> 100 frames/s feature repeat, the length-bucketed batch sampler and the padding collate.

Spectrogram: STFT magnitude with reflect padding of (n_fft - hop)/2 on each side, no centring, Hann window,
``sqrt(re² + im² + 1e-6)``; frames = len // hop. Mel: Slaney-scale, Slaney-normalised filters, ``log(clamp(·, 1e-5))``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.io import wavfile

from rvc.core.errors import IncompleteStepError
from rvc.core.experiment import Experiment
from rvc.core.files import save_npy_atomic, write_text_atomic, write_with
from rvc.nn.mel import MelConfig, log_mel, magnitude, mel_of

logger = logging.getLogger(__name__)

MAX_FRAMES = 900  # features are capped at 900 frames (9 s at 100 frames/s)
BOUNDARIES = list(range(100, 1000, 100))
MUTE_SECONDS = 3


# --- spectrograms ---------------------------------------------------------------------------------------------


def mel_config(d: dict[str, Any]) -> MelConfig:
    """The front end of the ``data`` section of a VITS config (the module docstring says which)."""
    return MelConfig(
        d["sampling_rate"],
        d["filter_length"],
        d["hop_length"],
        d["n_mel_channels"],
        win=d["win_length"],
        fmin=float(d["mel_fmin"]),
        fmax=d["mel_fmax"],
        eps=1e-6,
    )


def spectrogram(y: torch.Tensor, d: dict[str, Any]) -> torch.Tensor:
    """Linear magnitude spectrogram ``[B, n_fft/2+1, len // hop]`` of ``y [B, T]``."""
    return magnitude(y, mel_config(d))


def spec_to_mel(spec: torch.Tensor, d: dict[str, Any]) -> torch.Tensor:
    return mel_of(spec, mel_config(d))


def wav_to_mel(y: torch.Tensor, d: dict[str, Any]) -> torch.Tensor:
    """Log-mel ``[B, n_mels, T // hop]`` of ``y [B, T]`` with the ``data`` section of a VITS config."""
    return log_mel(y, mel_config(d))


# --- the filelist ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    wav: Path
    feature: Path
    pitch: Path | None
    pitchf: Path | None
    sid: int = 0


def mute_dir(experiment: Experiment) -> Path:
    return experiment.paths.root / "mute"


def write_mute(experiment: Experiment, features: np.ndarray) -> None:
    """The silent clips the reference trains on (3 s of zeros) with their pitch and ``features`` (computed by the
    experiment's own embedder on that silence), in the reference's ``logs/mute`` layout under the experiment."""
    root = mute_dir(experiment)
    sr = experiment.config.sample_rate_hz
    for sub in ("0_gt_wavs", "1_16k_wavs", "2a_f0", "2b-f0nsf", f"3_feature{experiment.config.feature_dim}"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _write_silence(root / "0_gt_wavs" / f"mute{experiment.config.sample_rate}.wav", sr)
    _write_silence(root / "1_16k_wavs" / "mute.wav", 16000)
    frames = MUTE_SECONDS * 100 + 1
    save_npy_atomic(root / "2a_f0" / "mute.wav.npy", np.ones(frames, np.int32))
    save_npy_atomic(root / "2b-f0nsf" / "mute.wav.npy", np.zeros(frames, np.float64))
    save_npy_atomic(root / f"3_feature{experiment.config.feature_dim}" / "mute.npy", features.astype(np.float32))


def _write_silence(path: Path, rate: int) -> None:
    silence = np.zeros(MUTE_SECONDS * rate, np.int16)
    write_with(path, lambda tmp: wavfile.write(tmp, rate, silence))


def ready_stems(experiment: Experiment) -> list[str]:
    """The pieces with all their files (the intersection of the step folders), sorted.

    Raises:
        IncompleteStepError: no features (or no pitch, with pitch guidance) yet.
    """
    c, p = experiment.config, experiment.paths
    stems = {f.stem for f in p.gt_wavs.glob("*.wav")} & {f.stem for f in p.features(c.version).glob("*.npy")}
    if c.use_f0:
        stems &= {f.name[: -len(".wav.npy")] for f in p.f0_coarse.glob("*.wav.npy")}
        stems &= {f.name[: -len(".wav.npy")] for f in p.f0_hz.glob("*.wav.npy")}
    if not stems:
        raise IncompleteStepError("No pieces have features yet: run Step 2b (extract) first")
    return sorted(stems)


def build_filelist(experiment: Experiment, write: bool = True, exclude: Collection[str] = ()) -> list[Item]:
    """Every ready piece but those in ``exclude`` (the held-out set) plus the two silent clips; written to
    ``filelist.txt`` in the reference's format (``|``-separated absolute paths, speaker id last).

    Raises:
        IncompleteStepError: no features (or no pitch, with pitch guidance) yet, or the silent clips are missing.
    """
    c, p = experiment.config, experiment.paths
    feat_dir = p.features(c.version)
    stems = set(ready_stems(experiment)) - set(exclude)
    if not stems:
        raise IncompleteStepError("Every piece is held out: lower the held-out share or add audio")
    mute = mute_dir(experiment)
    mute_feature = mute / f"3_feature{c.feature_dim}" / "mute.npy"
    if not mute_feature.is_file():
        raise IncompleteStepError("The silent training clips are missing: run Step 2b (extract) again")

    def item(wav: Path, feature: Path, pitch: Path, pitchf: Path) -> Item:
        return Item(
            wav.resolve(),
            feature.resolve(),
            pitch.resolve() if c.use_f0 else None,
            pitchf.resolve() if c.use_f0 else None,
        )

    items = [
        item(p.gt_wavs / f"{s}.wav", feat_dir / f"{s}.npy", p.f0_coarse / f"{s}.wav.npy", p.f0_hz / f"{s}.wav.npy")
        for s in sorted(stems)
    ]
    silent = item(
        mute / "0_gt_wavs" / f"mute{c.sample_rate}.wav",
        mute_feature,
        mute / "2a_f0" / "mute.wav.npy",
        mute / "2b-f0nsf" / "mute.wav.npy",
    )
    items += [silent, silent]
    if write:
        lines = ["|".join(str(x) for x in (i.wav, i.feature, i.pitch, i.pitchf, i.sid) if x is not None) for i in items]
        random.Random(0).shuffle(lines)
        write_text_atomic(p.root / "filelist.txt", "\n".join(lines))
    return items


# --- the dataset ----------------------------------------------------------------------------------------------


class TrainSet(torch.utils.data.Dataset):
    """One training item: ``(phone [T, C], pitch [T], pitchf [T], spec [F, T], wav [1, T·hop], sid)``."""

    def __init__(self, items: list[Item], hps: dict[str, Any], use_f0: bool) -> None:
        d = hps["data"]
        self.items, self.use_f0 = items, use_f0
        self.sr, self.hop, self.data = d["sampling_rate"], d["hop_length"], d
        # the reference's length proxy for bucketing: file size // (3·hop)
        self.lengths = [i.wav.stat().st_size // (3 * self.hop) for i in items]

    def __len__(self) -> int:
        return len(self.items)

    def _audio(self, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
        sr, x = wavfile.read(path)
        if sr != self.sr:
            raise IncompleteStepError(f"{path} is at {sr} Hz, the model at {self.sr} Hz: run Step 2a again")
        wav = torch.from_numpy(x.astype(np.float32))[None]  # float32 WAVs are used as they are (no rescaling)
        cache = path.with_name(path.stem + ".spec.pt")  # the reference's cache file, same layout
        spec = None
        if cache.exists():
            try:
                spec = torch.load(cache, map_location="cpu", weights_only=True)
            except Exception:
                spec = None
        if spec is None or spec.shape[-1] != wav.shape[-1] // self.hop:
            spec = spectrogram(wav, self.data)[0]
            try:
                from rvc.models.checkpoint import save_atomic

                save_atomic(spec, cache)
            except OSError:
                pass
        return spec, wav

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        it = self.items[i]
        spec, wav = self._audio(it.wav)
        features = np.repeat(np.load(it.feature), 2, axis=0)  # 50 -> 100 frames/s
        n = min(len(features), MAX_FRAMES, spec.shape[-1])
        pitch = pitchf = torch.zeros(n)
        if self.use_f0 and it.pitch is not None and it.pitchf is not None:
            p_c, p_f = np.load(it.pitch), np.load(it.pitchf)
            n = min(n, len(p_c), len(p_f))
            pitch, pitchf = torch.from_numpy(p_c[:n].astype(np.int64)), torch.from_numpy(p_f[:n].astype(np.float32))
        phone = torch.from_numpy(features[:n].astype(np.float32))
        return phone, pitch, pitchf, spec[:, :n], wav[:, : n * self.hop], torch.tensor(it.sid)


def collate(batch: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    """Longest first, zero-padded: ``phone, phone_lengths, pitch, pitchf, spec, spec_lengths, wav, wav_lengths, sid``."""
    batch = sorted(batch, key=lambda b: -b[3].shape[1])
    n = len(batch)
    t_max = max(b[3].shape[1] for b in batch)
    w_max = max(b[4].shape[1] for b in batch)
    phone = torch.zeros(n, t_max, batch[0][0].shape[1])
    pitch = torch.zeros(n, t_max, dtype=torch.long)
    pitchf = torch.zeros(n, t_max)
    spec = torch.zeros(n, batch[0][3].shape[0], t_max)
    wav = torch.zeros(n, 1, w_max)
    lengths = torch.zeros(n, dtype=torch.long)
    wav_lengths = torch.zeros(n, dtype=torch.long)
    for i, (ph, pc, pf, sp, w, _) in enumerate(batch):
        t = sp.shape[1]
        phone[i, :t], pitch[i, :t], pitchf[i, :t], spec[i, :, :t] = ph[:t], pc[:t], pf[:t], sp
        wav[i, :, : w.shape[1]] = w
        lengths[i], wav_lengths[i] = t, w.shape[1]
    sid = torch.stack([b[5] for b in batch])
    return phone, lengths, pitch, pitchf, spec, lengths.clone(), wav, wav_lengths, sid


class BucketSampler(torch.utils.data.Sampler):
    """Batches of items of similar length (buckets (100, 200], …, (800, 900] of the length proxy; items outside
    are dropped, as the reference drops them), shuffled per epoch, split across ``replicas`` ranks.

    ``batch_size`` is per rank: each rank gets exactly that many items per step (the reference multiplied it by
    the GPU count)."""

    def __init__(self, lengths: list[int], batch_size: int, replicas: int = 1, rank: int = 0, seed: int = 1234) -> None:
        self.batch_size, self.replicas, self.rank, self.seed = batch_size, replicas, rank, seed
        self.epoch = 0
        self.buckets: list[list[int]] = [[] for _ in BOUNDARIES[:-1]]
        for i, n in enumerate(lengths):
            for b, (lo, hi) in enumerate(zip(BOUNDARIES[:-1], BOUNDARIES[1:], strict=True)):
                if lo < n <= hi:
                    self.buckets[b].append(i)
        self.buckets = [b for b in self.buckets if b]
        self.dropped = len(lengths) - sum(len(b) for b in self.buckets)
        per = batch_size * replicas
        self._batches_per_epoch = sum((len(b) + per - 1) // per for b in self.buckets)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        per = self.batch_size * self.replicas
        batches = []
        for bucket in self.buckets:
            order = [bucket[i] for i in torch.randperm(len(bucket), generator=g).tolist()]
            target = ((len(order) + per - 1) // per) * per
            while len(order) < target:  # pad by repeating items, so every rank gets full batches
                order += order[: target - len(order)]
            mine = order[self.rank :: self.replicas]
            batches += [mine[i : i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        for i in torch.randperm(len(batches), generator=g).tolist():
            yield batches[i]

    def __len__(self) -> int:
        return self._batches_per_epoch
