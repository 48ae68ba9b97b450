"""Long jobs that outlive the web request that started them.

A :class:`JobRegistry` runs each job in a daemon thread with a stop event, a progress fraction with an ETA, a
short text and a log tail. Heavy jobs (everything that trains or extracts) run one at a time; the others wait
in a first-come queue with the status ``queued``. At most one job per experiment is queued or running.

Every job is also a small JSON record under ``<state_dir>/<id>.json``, rewritten as it changes: a new
registry on the same folder (the app restarted) finds the jobs that were queued or running, marks them
``interrupted`` and keeps their parameters so the app can offer to resume them (every step resumes by itself).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rvc.core.errors import Cancelled, ExperimentBusyError, RvcError
from rvc.core.files import write_text_atomic
from rvc.core.progress import Progress, ProgressFn, headline

logger = logging.getLogger(__name__)

Status = Literal["queued", "running", "done", "failed", "stopped", "interrupted", "resumed"]
ACTIVE = ("queued", "running")
KEEP_RECORDS = 200  # finished job records kept on disk


@dataclass
class Job:
    key: str  # the experiment
    kind: str  # preprocess | extract | train | index | one-click
    params: dict[str, Any] = field(default_factory=dict)  # JSON-able; what a resume needs
    id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6])
    stop: threading.Event = field(default_factory=threading.Event)
    status: Status = "queued"
    message: str = ""  # the result (done) or the reason (failed, stopped)
    detail: str = ""  # what it is doing now
    fraction: float | None = None  # 0..1 when known
    progress: Any = None  # a step's own progress object (training: rvc.steps.train.loop.Progress)
    result: Any = None  # the work's return value (not persisted)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    _saved: float = 0.0
    _registry: JobRegistry | None = None

    def say(self, line: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")
        self._persist()

    def update(self, fraction: float | None, detail: str) -> None:
        """Progress from the work: ``fraction`` of the whole job (None: unknown) and what it does now."""
        if fraction is not None:
            self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.detail = detail
        self._persist(throttle=True)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def eta_seconds(self) -> float | None:
        """Seconds left, from the rate so far (None until there is a rate)."""
        if self.status != "running" or not self.fraction or self.started is None:
            return None
        spent = time.time() - self.started
        if spent < 2 or self.fraction < 0.01:
            return None
        return spent * (1 - self.fraction) / self.fraction

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id, "key": self.key, "kind": self.kind, "params": self.params, "status": self.status,
            "message": self.message, "detail": self.detail, "fraction": self.fraction, "created": self.created,
            "started": self.started, "finished": self.finished, "log": list(self.log)[-50:], "pid": os.getpid(),
        }  # fmt: skip

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Job:
        job = cls(r["key"], r["kind"], dict(r.get("params") or {}), id=r["id"])
        job.status = r.get("status", "interrupted")
        job.message, job.detail, job.fraction = r.get("message", ""), r.get("detail", ""), r.get("fraction")
        job.created, job.started, job.finished = r.get("created", 0.0), r.get("started"), r.get("finished")
        job.log.extend(r.get("log", []))
        return job

    def _persist(self, throttle: bool = False) -> None:
        if self._registry is None:
            return
        now = time.monotonic()
        if throttle:  # progress: at most every 2 s (log lines and state changes: always)
            if now - self._saved < 2.0:
                return
            self._saved = now
        self._registry.save(self)


def job_progress(job: Job) -> ProgressFn:
    """The one adapter from a step's :class:`~rvc.core.progress.Progress` to a job: the bar, the line of what it
    does now (``"pitch 3/40: <message>"``, see :func:`~rvc.core.progress.headline`), that line in the log whenever
    the stage changes, and the step's own record (``detail``) in ``job.progress``."""
    last: dict[str, str | None] = {"stage": None}

    def report(p: Progress) -> None:
        head = headline(p)
        line = f"{head}: {p.message}" if head and p.message else p.message or head
        if p.stage != last["stage"]:
            last["stage"] = p.stage
            if line:
                job.say(line)
        if p.detail is not None:
            job.progress = p.detail
        job.update(p.fraction, line)

    return report


class JobRegistry:
    """The jobs of one app process (and the records of earlier ones, when ``state_dir`` is given)."""

    def __init__(self, state_dir: Path | None = None, heavy_slots: int = 1) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._heavy = threading.Semaphore(heavy_slots)
        self._state_dir = Path(state_dir) if state_dir else None
        if self._state_dir is not None:
            self._load()

    # --- records ------------------------------------------------------------------------------------------------

    def _load(self) -> None:
        assert self._state_dir is not None
        self._state_dir.mkdir(parents=True, exist_ok=True)
        records = []
        for path in self._state_dir.glob("*.json"):
            try:
                records.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                logger.warning("unreadable job record %s skipped", path)
        for r in sorted(records, key=lambda r: r.get("created", 0)):
            try:
                job = Job.from_record(r)
            except (KeyError, TypeError):
                continue
            job._registry = self
            if job.status in ACTIVE:  # its process is gone: the app was stopped or crashed
                job.status = "interrupted"
                job.message = "the app stopped while this job ran; resume it to continue where it stopped"
                job.finished = job.finished or time.time()
                self.save(job)
            self._jobs[job.id] = job
        old = sorted((j for j in self._jobs.values() if not j.active), key=lambda j: j.created)[:-KEEP_RECORDS]
        for j in old:
            self._jobs.pop(j.id, None)
            (self._state_dir / f"{j.id}.json").unlink(missing_ok=True)

    def save(self, job: Job) -> None:
        if self._state_dir is None:
            return
        path = self._state_dir / f"{job.id}.json"
        try:
            write_text_atomic(path, json.dumps(job.to_record()))
        except OSError as e:  # a full disk must not kill the job
            logger.warning("could not save job record %s: %s", path, e)

    # --- running ------------------------------------------------------------------------------------------------

    def start(
        self,
        key: str,
        kind: str,
        work: Callable[[Job], Any],
        params: dict[str, Any] | None = None,
        heavy: bool = True,
        summary: Callable[[Any], str] = str,
    ) -> Job:
        """Queues ``work(job)`` for a daemon thread; ``summary(return value)`` becomes the job's message.

        Raises:
            ExperimentBusyError: a job is already queued or running for ``key``.
        """
        with self._lock:
            current = self.current(key)
            if current is not None:
                raise ExperimentBusyError(
                    f"{current.kind.capitalize()} is already {current.status} for {key!r}: wait for it or stop it first"
                )
            job = Job(key, kind, dict(params or {}))
            job._registry = self
            self._jobs[job.id] = job
        job.say(f"{kind} queued" if heavy else f"{kind} started")
        threading.Thread(target=self._run, args=(job, work, heavy, summary), name=f"{kind}:{key}", daemon=True).start()
        return job

    def _run(self, job: Job, work: Callable[[Job], Any], heavy: bool, summary: Callable[[Any], str]) -> None:
        if heavy:
            while not self._heavy.acquire(timeout=0.5):
                if job.stop.is_set():
                    self._finish(job, "stopped", "stopped before it started")
                    return
        try:
            job.status, job.started = "running", time.time()
            job.say(f"{job.kind} running")
            job.result = work(job)
            job.fraction = 1.0 if not job.stop.is_set() else job.fraction
            self._finish(job, "stopped" if job.stop.is_set() else "done", summary(job.result))
        except Cancelled as e:
            self._finish(job, "stopped", str(e))
        except (RvcError, ValueError) as e:
            self._finish(job, "failed", str(e))
        except Exception as e:  # report, never lose the reason
            logger.error("%s for %s failed:\n%s", job.kind, job.key, traceback.format_exc())
            self._finish(job, "failed", f"{type(e).__name__}: {e}")
        finally:
            if heavy:
                self._heavy.release()

    def _finish(self, job: Job, status: Status, message: str) -> None:
        job.status, job.message, job.finished = status, message, time.time()
        job.say(f"{job.kind} {status}: {message}")

    # --- queries ------------------------------------------------------------------------------------------------

    def get(self, key: str) -> Job | None:
        """The newest job of an experiment."""
        jobs = [j for j in self._jobs.values() if j.key == key]
        return max(jobs, key=lambda j: j.created) if jobs else None

    def by_id(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def current(self, key: str) -> Job | None:
        """The experiment's queued or running job, if any."""
        return next((j for j in self._jobs.values() if j.key == key and j.active), None)

    def all(self) -> list[Job]:
        """Every job known, the newest first."""
        return sorted(self._jobs.values(), key=lambda j: -j.created)

    def running(self) -> list[Job]:
        """Queued and running jobs, the most recently created first."""
        return [j for j in self.all() if j.active]

    def stop(self, key: str) -> bool:
        job = self.current(key)
        if job is None:
            return False
        job.stop.set()
        job.say("stop requested: finishing the current item (training saves a checkpoint first)")
        return True

    def resume(self, job_id: str, work: Callable[[Job], Any], summary: Callable[[Any], str] = str) -> Job:
        """Starts an interrupted job again with its parameters; the old record is marked ``resumed``.

        Raises:
            RvcError: no interrupted job has this id. ExperimentBusyError: another job runs for its experiment.
        """
        old = self._jobs.get(job_id)
        if old is None or old.status != "interrupted":
            raise RvcError("Choose an interrupted job (its id) to resume")
        job = self.start(old.key, old.kind, work, old.params, summary=summary)
        old.status, old.message = "resumed", f"resumed as {job.id}"
        self.save(old)
        return job

    def wait(self, job: Job, timeout: float | None = None) -> bool:
        """Blocks until the job is no longer queued or running; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        while job.active:
            if end is not None and time.monotonic() > end:
                return False
            time.sleep(0.2)
        return True
