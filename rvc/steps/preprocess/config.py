"""The settings of Step 2a (the reference's values by default)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rvc.audio.slicer import SlicerParams
from rvc.core.options import SettingError, option


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of Step 2a (reference values by default)."""

    # 3.0 is the reference's choice for fp32 / small GPUs
    segment_seconds: float = option(
        3.7, "piece length in seconds ({default} default, 3.0 for small GPUs)", minimum=1.0, maximum=10.0
    )
    overlap_seconds: float = 0.3
    workers: int | None = option(None, "worker processes (default: all cores)", minimum=1)  # None: all cores
    min_file_seconds: float = 0.5
    max_peak: float = 2.5  # pieces louder than this (before normalisation) are dropped, as in the reference
    slicer: SlicerParams = field(default_factory=SlicerParams)

    def __post_init__(self) -> None:
        if not 1.0 <= self.segment_seconds <= 10.0:
            raise SettingError(f"segment length must be between 1.0 and 10.0 s, not {self.segment_seconds}")
        if not 0.0 <= self.overlap_seconds < self.segment_seconds / 2:
            raise SettingError(f"overlap must be between 0 and half the segment length, not {self.overlap_seconds}")
        if self.workers is not None and self.workers < 1:
            raise SettingError(f"workers must be at least 1, not {self.workers}")
