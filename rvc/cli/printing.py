"""The CLI's one progress printer: every command that runs a step passes :func:`print_progress` as its callback."""

from __future__ import annotations

import sys
import time

from rvc.core.progress import Progress, ProgressFn, headline


class _Printer:
    """One line on stderr per update, at most one a second within a stage; a new stage and a stage's last
    update always print."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.stage: str | None = None
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        finished = p.total > 0 and p.done >= p.total
        if p.stage == self.stage and not finished and now - self.last < self.every:
            return
        self.stage, self.last = p.stage, now
        head = headline(p, percent=True)
        print(f"[{head}] {p.message}" if head else p.message, file=sys.stderr, flush=True)


def print_progress(every: float = 1.0) -> ProgressFn:
    """A progress callback that prints to stderr (``[pitch 3/40] piece_0003``, ``[download  45%] rmvpe.pt``)."""
    return _Printer(every)
