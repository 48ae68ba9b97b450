"""The Jobs tab: every long job of this app (running, queued, finished, interrupted), resuming and stopping them;
and the banner at the top of the page that points to interrupted ones."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from rvc.core.errors import RvcError
from rvc.ui.common import L, Skip, fail
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form
from rvc.ui.i18n import tr

if TYPE_CHECKING:
    import pandas as pd

SHOWN = 100  # newest jobs in the table


@dataclass(frozen=True)
class JobForm(Form):
    job_id: str | None


@dataclass(frozen=True)
class JobsWidgets:
    table: gr.Dataframe
    job_id: gr.Textbox
    resume: gr.Button
    stop: gr.Button
    message: gr.Markdown
    timer: gr.Timer


def jobs_table(ctx: UiContext, form: Form) -> pd.DataFrame:
    import pandas as pd

    lang = form.lang
    rows = []
    for j in ctx.jobs.all()[:SHOWN]:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created))
        frac = "" if j.fraction is None else f"{j.fraction:.0%}"
        rows.append([j.id, j.key, tr(j.kind, lang), tr(j.status, lang), frac, when, tr(j.message or j.detail, lang)])
    cols = ["id", tr("experiment", lang), tr("job", lang), tr("state", lang), "%", tr("created", lang), ""]
    return pd.DataFrame(rows, columns=cols)


def resume_job(ctx: UiContext, form: JobForm) -> tuple[str, pd.DataFrame]:
    """Resumes an interrupted job: it continues where it stopped."""
    from rvc.steps.tasks import summary_for, work_for

    lang = form.lang
    old = ctx.jobs.by_id((form.job_id or "").strip())
    try:
        if old is None:
            raise RvcError("Choose an interrupted job (its id) to resume")
        job = ctx.jobs.resume(old.id, work_for(old.kind, old.params, ctx.places), summary_for(old.kind))
    except RvcError as e:
        raise fail(e, lang) from e
    message = tr("Resumed {kind} for {name}", lang).format(kind=tr(job.kind, lang), name=job.key)
    return message, jobs_table(ctx, form)


def stop_job(ctx: UiContext, form: JobForm) -> tuple[str, pd.DataFrame]:
    job = ctx.jobs.by_id((form.job_id or "").strip())
    if job is None or not job.active:
        return ctx.stop_message(False, form.lang), jobs_table(ctx, form)
    ctx.jobs.stop(job.key)
    return ctx.stop_message(True, form.lang), jobs_table(ctx, form)


def interrupted(ctx: UiContext, form: Form) -> str:
    """The banner: jobs the app was stopped in, to resume from the Jobs tab."""
    found = [f"{tr(j.kind, form.lang)} ({j.key})" for j in ctx.jobs.all() if j.status == "interrupted"]
    if not found:
        return ""
    return "⚠ " + tr("Interrupted jobs: {jobs}. Open the Jobs tab to resume them.", form.lang).format(
        jobs=", ".join(found[:5])
    )


def running_experiment(ctx: UiContext) -> str | Skip:
    """The experiment of a running job, so that a reloaded page follows it again."""
    active = ctx.jobs.running()
    return active[0].key if active else gr.skip()


def layout(ctx: UiContext) -> JobsWidgets:
    with gr.Tab(L("Jobs"), id="jobs"):
        gr.Markdown(
            L(
                "Every long job of this app: running, queued (one heavy job runs at a time), finished, and "
                "those the app was stopped in (resume them: each continues where it stopped)."
            )
        )
        table = gr.Dataframe(jobs_table(ctx, Form()), interactive=False, wrap=True, elem_id="jobs-table")
        with gr.Row():
            job_id = gr.Textbox(label=L("Job id"), elem_id="jobs-id")
            resume = gr.Button(L("Resume"), elem_id="jobs-resume")
            stop = gr.Button(L("Stop"), variant="stop", elem_id="jobs-stop")
        message = gr.Markdown(elem_id="jobs-msg")
        timer = gr.Timer(3.0, active=True)
    return JobsWidgets(table, job_id, resume, stop, message, timer)


def wire(ev: Events, w: JobsWidgets) -> None:
    ev.on(w.timer.tick, jobs_table, Form, {}, [w.table], api_name="jobs", show_progress="hidden", queue=False)
    ev.on(w.resume.click, resume_job, JobForm, {"job_id": w.job_id}, [w.message, w.table], api_name="resume_job",
          queue=False)  # fmt: skip
    ev.on(w.stop.click, stop_job, JobForm, {"job_id": w.job_id}, [w.message, w.table], api_name="stop_job",
          queue=False)  # fmt: skip


def wire_page(ev: Events, demo: gr.Blocks, banner: gr.Markdown, experiment: gr.Textbox) -> None:
    """On every page load: the running job's experiment goes back in Step 1, and the banner is filled."""
    demo.load(lambda: running_experiment(ev.ctx), None, [experiment], queue=False, api_visibility="private")
    ev.on(demo.load, interrupted, Form, {}, [banner], queue=False, api_visibility="private")
