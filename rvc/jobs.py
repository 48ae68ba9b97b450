"""Long jobs that outlive the web request that started them: a registry of background threads, one per
experiment, each with a stop event, a progress snapshot and a log tail. The web UI starts and stops them and
polls their state; closing or reloading the page changes nothing for the job."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rvc.errors import ExperimentBusyError, RvcError

logger = logging.getLogger(__name__)

Status = Literal["running", "done", "failed", "stopped"]


@dataclass
class Job:
    key: str
    kind: str
    stop: threading.Event = field(default_factory=threading.Event)
    status: Status = "running"
    message: str = ""
    progress: Any = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    def say(self, line: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")


class JobRegistry:
    """At most one running job per key (experiment name)."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, key: str, kind: str, work: Callable[[Job], str]) -> Job:
        """Runs ``work(job)`` in a daemon thread; its return value becomes the job's final message.

        Raises:
            ExperimentBusyError: a job already runs for ``key``.
        """
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and current.status == "running":
                raise ExperimentBusyError(f"{current.kind.capitalize()} is already running for {key!r}: stop it first")
            job = Job(key, kind)
            self._jobs[key] = job
        job.say(f"{kind} started")
        threading.Thread(target=self._run, args=(job, work), name=f"{kind}:{key}", daemon=True).start()
        return job

    def _run(self, job: Job, work: Callable[[Job], str]) -> None:
        try:
            job.message = work(job)
            job.status = "stopped" if job.stop.is_set() else "done"
        except (RvcError, ValueError) as e:
            job.status, job.message = "failed", str(e)
        except Exception as e:  # report, never lose the reason
            logger.error("%s for %s failed:\n%s", job.kind, job.key, traceback.format_exc())
            job.status, job.message = "failed", f"{type(e).__name__}: {e}"
        job.finished = time.time()
        job.say(f"{job.kind} {job.status}: {job.message}")

    def get(self, key: str) -> Job | None:
        return self._jobs.get(key)

    def running(self) -> list[Job]:
        """Running jobs, the most recently started first."""
        return sorted((j for j in self._jobs.values() if j.status == "running"), key=lambda j: -j.started)

    def stop(self, key: str) -> bool:
        job = self._jobs.get(key)
        if job is None or job.status != "running":
            return False
        job.stop.set()
        job.say("stop requested: finishing the current step and saving a checkpoint")
        return True
