"""Worker processes for the CPU-bound steps: how they start, and that they never outlive their parent."""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading


def mp_context(preload: list[str] | None = None) -> multiprocessing.context.BaseContext:
    """fork when this process has one thread (the CLI: cheapest); forkserver otherwise (the web app, where
    forking a multi-threaded process is unsafe), with ``preload`` imported once in the server."""
    if sys.platform.startswith("linux"):
        if threading.active_count() == 1:
            return multiprocessing.get_context("fork")
        ctx = multiprocessing.get_context("forkserver")
        if preload:
            ctx.set_forkserver_preload(preload)
        return ctx
    return multiprocessing.get_context("spawn")


def init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the parent, which cleans up
    if sys.platform.startswith("linux"):  # die with the parent, even on kill -9: no orphan keeps writing
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
