"""One job per experiment at a time, with an OS file lock: the kernel releases it when the holder dies, so a
killed run never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from rvc.core.errors import ExperimentBusyError


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def experiment_lock(path: Path, job: str) -> Iterator[None]:
    """Holds the lock file ``path`` for the duration of the block.

    Raises:
        ExperimentBusyError: another process (or thread) holds it; the message names its job and pid.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            try:
                holder = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
            except (OSError, ValueError):
                holder = {}
            raise ExperimentBusyError(
                f"The experiment is busy: {holder.get('job', 'another job')} is running "
                f"(pid {holder.get('pid', '?')}). Wait for it to finish or stop it first."
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"job": job, "pid": os.getpid()}).encode())
        yield
    finally:
        os.close(fd)
