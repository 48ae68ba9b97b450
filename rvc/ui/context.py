"""What every handler works with: how the app is served (:class:`AppSettings`) and, for one built page, the job
registry and the places the steps write to (:class:`UiContext`). Handlers take the context and one form, so they
are plain functions that a test calls without a browser."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment, open_experiment
from rvc.hub.spaces import SpaceInfo
from rvc.jobs.registry import Job, JobRegistry
from rvc.ui.common import fail, job_html
from rvc.ui.i18n import tr

if TYPE_CHECKING:
    from rvc.live.sessions import LiveSessions
    from rvc.steps.tasks import Places


@dataclass(frozen=True)
class AppSettings:
    """What the UI needs to know about how it is served."""

    logs_dir: Path
    allow_server_paths: bool = True  # off when others can reach the app, unless asked for
    space: SpaceInfo | None = None  # set on a Hugging Face Space
    live_sessions: int | None = None  # live streams at once (default: 1 when others can reach the app, else 2)

    @property
    def weights_dir(self) -> Path:
        return self.logs_dir.parent / "weights"

    @property
    def live_limit(self) -> int:
        if self.live_sessions is not None:
            return self.live_sessions
        return 1 if (self.space is not None or not self.allow_server_paths) else 2


@dataclass(frozen=True)
class UiContext:
    """The settings, the job registry and the places of one page; the helpers every handler needs."""

    settings: AppSettings
    jobs: JobRegistry
    places: Places
    live: LiveSessions
    follow_every: float = 1.0  # seconds between two progress lines of a followed job

    @classmethod
    def open(cls, settings: AppSettings) -> UiContext:
        """The context of a page served with ``settings``: the logs folder made, the job records read."""
        from rvc.live.sessions import LiveSessions
        from rvc.steps.tasks import Places

        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        jobs = JobRegistry(settings.logs_dir / ".jobs")
        places = Places(settings.logs_dir, settings.weights_dir)
        return cls(settings, jobs, places, LiveSessions(settings.live_limit))

    @property
    def logs_dir(self) -> Path:
        return self.settings.logs_dir

    @property
    def weights_dir(self) -> Path:
        return self.settings.weights_dir

    def experiment(self, name: str | None, lang: str) -> Experiment:
        """The experiment called ``name``, or the error the page shows."""
        try:
            return open_experiment((name or "").strip(), self.logs_dir)
        except RvcError as e:
            raise fail(e, lang) from e

    def server_path(self, text: str | None, what: str, lang: str) -> Path:
        """A path on this machine typed in the page; refused when others can reach the app. ``what``: the message
        when it is empty."""
        if not self.settings.allow_server_paths:
            raise fail(
                "Server paths are disabled because this app can be reached by others: upload the files instead "
                "(or start the app with --allow-server-paths)",
                lang,
            )
        if not (text or "").strip():
            raise fail(what, lang)
        return Path((text or "").strip()).expanduser()

    def start_job(self, name: str, kind: str, params: Mapping[str, Any], lang: str) -> Job:
        """Starts (or queues) a job of ``kind`` for the experiment ``name``."""
        from rvc.steps.tasks import summary_for, work_for

        values = dict(params)
        try:
            return self.jobs.start(name, kind, work_for(kind, values, self.places), values, summary=summary_for(kind))
        except RvcError as e:
            raise fail(e, lang) from e

    def follow(self, job: Job, lang: str) -> Iterator[str]:
        """Yields the job's progress every second until it ends (a closed page stops this, not the job)."""
        while job.active:
            yield job_html(job, lang)
            time.sleep(self.follow_every)
        if job.status == "failed":
            raise fail(job.message, lang)
        yield job_html(job, lang)

    def stop_message(self, stopped: bool, lang: str) -> str:
        if stopped:
            return tr("Stopping: the current step finishes and a checkpoint is saved.", lang)
        return tr("No job is running for this experiment.", lang)

    def models(self) -> list[str]:
        """The models in the weights folder, as the Infer tab lists them."""
        folder = self.weights_dir
        return sorted(str(p) for p in folder.glob("*.pth")) if folder.is_dir() else []
