"""The settings of live conversion that a file conversion does not have: block, crossfade, context, gate."""

from __future__ import annotations

from dataclasses import dataclass

from rvc.core.options import SettingError, option

FRAME_S = 0.01  # the model's frame: 160 samples at 16 kHz


@dataclass(frozen=True)
class LiveConfig:
    block: float = option(
        0.25, "seconds of audio per block (a multiple of 10 ms)", minimum=0.03, maximum=2.0, step=0.01
    )
    crossfade: float = option(
        0.05, "seconds over which each block fades into the next", minimum=0.01, maximum=0.5, step=0.01
    )
    context: float = option(
        2.0, "seconds of past audio each block is converted with", minimum=0.2, maximum=8.0, step=0.1
    )
    search: float = option(0.01, "seconds the seam search may shift a block (SOLA)", minimum=0.0, maximum=0.05)
    silence_db: float = option(
        -50.0, "blocks quieter than this (dBFS RMS) are silence, not converted (-100: off)", minimum=-100, maximum=0
    )
    max_backlog: int = option(
        2, "blocks waiting beyond which the oldest are dropped (device mode: the delay stays bounded)", minimum=1
    )

    def __post_init__(self) -> None:
        if abs(round(self.block / FRAME_S) * FRAME_S - self.block) > 1e-6 or self.block < 0.03:
            raise SettingError(f"block must be a multiple of 0.01 s and at least 0.03 s, not {self.block}")
        if not 0.01 <= self.crossfade <= self.block:
            raise SettingError(f"crossfade must be between 0.01 s and the block ({self.block} s), not {self.crossfade}")
        if self.context < 0.2:
            raise SettingError(f"context must be at least 0.2 s, not {self.context}")
        if not 0.0 <= self.search <= 0.05:
            raise SettingError(f"search must be between 0 and 0.05 s, not {self.search}")

    def frames(self, seconds: float) -> int:
        return int(round(seconds / FRAME_S))
