"""The one progress contract: every step reports :class:`Progress` to a callback it is given.

The jobs registry turns it into a job's bar and log (:func:`rvc.jobs.registry.job_progress`), the CLI prints it
(:func:`rvc.cli.print_progress`); no step knows which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Progress:
    """Where a step stands: ``done`` of ``total`` units of ``stage`` (``total`` 0: unknown), and a line for people.

    ``detail`` carries the step's own record for pages that draw more than a bar (a preprocessed file's result,
    training's epoch and losses); nothing else reads it."""

    stage: str
    done: float
    total: float
    message: str = ""
    detail: Any = None

    @property
    def fraction(self) -> float | None:
        """0..1, or None when the total is unknown."""
        if self.total <= 0:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)


ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default callback: reports nowhere."""


def counts_items(p: Progress) -> bool:
    """``done``/``total`` count whole items (pieces, files, steps, vectors): worth showing as "3/40". Bytes (stage
    ``download``) and shares of a run (floats, one-click's 0..1) are not."""
    whole = isinstance(p.done, int) and isinstance(p.total, int)
    return whole and p.total > 0 and p.stage != "download"


def headline(p: Progress, percent: bool = False) -> str:
    """What a line about ``p`` starts with: the stage (unless the message already starts with it) and the count
    (``"pitch 3/40"``); with ``percent``, the share done where there is no count (``"download  45%"``)."""
    parts = [] if p.message.startswith(p.stage) else [p.stage]
    if counts_items(p):
        parts.append(f"{p.done}/{p.total}")
    elif percent and p.fraction is not None:
        parts.append(f"{p.fraction:4.0%}")
    return " ".join(parts)
