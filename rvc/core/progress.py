"""The one progress contract: every step reports :class:`Progress` to a callback it is given.

The jobs registry turns it into a job's bar and log (:func:`rvc.jobs.registry.job_progress`), the CLI prints it
(:func:`rvc.cli` ``print_progress``); no step knows which.
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
