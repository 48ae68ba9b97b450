"""Worker processes for the CPU-bound steps: how they start, and that they never outlive their parent; and
threads for torch work that must not outlive it."""

from __future__ import annotations

import contextvars
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


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


def on_own_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a new thread that ends with it (the caller's context variables copied); the caller waits
    and gets its result or its exception.

    For torch work called from a thread that lives on (a web server's worker pool): every thread that has run
    torch keeps an OpenMP team while it lives, and once OpenMP's threads outnumber the CPUs they stop spinning
    between parallel regions, so every other thread's torch work waits for its team to wake up at each
    operation (on 2 cores a live block took 470 ms instead of 340 ms). A thread that ends takes its team along."""
    outcome: list[Any] = []
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome.append((True, context.run(fn, *args)))
        except BaseException as e:  # handed to the caller, who raises it
            outcome.append((False, e))

    worker = threading.Thread(target=run, name=f"torch:{getattr(fn, '__name__', 'work')}", daemon=True)
    worker.start()
    worker.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value
