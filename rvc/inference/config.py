"""The settings of a conversion, checked when they are made (no torch here: the pages build them cheaply)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rvc.core.config import DEVICES
from rvc.core.options import SettingError, option
from rvc.pitch.methods import F0_METHODS

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class ConvertConfig:
    transpose: float = option(0.0, "semitones (+12: an octave up)", minimum=-24, maximum=24, step=1)
    f0_method: str = option("rmvpe", "pitch method (default {default})", choices=F0_METHODS)
    index: Path | None = option(None, "the feature index (added_IVF….index)")
    index_rate: float = option(
        0.75, "share of retrieved features, 0..1 (default {default})", minimum=0.0, maximum=1.0, step=0.05
    )
    # harvest: a 3-point median filter when > 2 (as the reference)
    filter_radius: int = option(3, "harvest: median filter when > 2 (default {default})", minimum=0, maximum=7, step=1)
    # 1: keep the output's loudness envelope; 0: take the input's
    rms_mix_rate: float = option(0.25, "0: input's loudness envelope, 1: output's", minimum=0.0, maximum=1.0, step=0.05)
    # < 0.5: unvoiced frames keep this much retrieval (0.5 turns protection off)
    protect: float = option(0.33, "protect unvoiced consonants, 0..0.5 (0.5: off)", minimum=0.0, maximum=0.5, step=0.01)
    resample_sr: int = option(0, "output sample rate (0: the model's)", minimum=0, maximum=48000, step=100)
    speaker: int = option(0, "speaker id (default {default})", minimum=0)
    device: str = option("auto", "auto, cpu or cuda", choices=DEVICES)
    embedder: str | None = option(
        None, "content encoder: empty for the model's own (refused when another), a name, or a folder/.pt"
    )
    rmvpe: Path | None = option(None, "rmvpe.pt to use")
    # bf16: the generator under autocast; on CPUs with AVX-512 BF16 or AMX its decoder runs about 2.3x faster
    # (bench/RESULTS.md: 60 s in 31.6 s instead of 71 s, MCD 0.18 dB and GE2E similarity 1.000 against fp32)
    precision: str = option(
        "auto",
        "generator precision: auto (bf16 on CPUs with AVX-512 BF16 or AMX, else fp32), fp32 or bf16",
        choices=PRECISIONS,
    )
    x_pad: float = 1.0  # seconds of context on each side of a chunk
    x_query: float = 6.0  # search window for the quietest cut point
    x_center: float = 38.0  # chunk length
    x_max: float = 41.0  # inputs longer than this are chunked
    stream_above: float = 300.0  # seconds: longer inputs are filtered, converted and written part by part

    def __post_init__(self) -> None:
        if not 0.0 <= self.index_rate <= 1.0:
            raise SettingError("index rate must be between 0 and 1")
        if not 0.0 <= self.protect <= 0.5:
            raise SettingError("protect must be between 0 and 0.5")
        if not 0.0 <= self.rms_mix_rate <= 1.0:
            raise SettingError("RMS mix rate must be between 0 and 1")
        if not -48 <= self.transpose <= 48:
            raise SettingError("transpose must be within ±48 semitones")
        if self.precision not in PRECISIONS:
            raise SettingError(f"precision must be auto, fp32 or bf16, not {self.precision!r}")
