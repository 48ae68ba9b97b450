"""Step 2b · Extract pitch and features: the pitch methods this installation can run, the job, and the pitch
track of one piece."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment
from rvc.core.options import spec
from rvc.steps.extract import ExtractConfig
from rvc.ui.common import L, Skip, embedder_box, embedder_value, fail, radio, title
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form

if TYPE_CHECKING:
    from rvc.steps.extract import ExtractReport


@dataclass(frozen=True)
class ExtractForm(Form):
    name: str | None
    method: str
    device: str
    embedder: str | None


@dataclass(frozen=True)
class FeatureWidgets:
    method: gr.Radio
    device: gr.Radio
    embedder: gr.Dropdown
    run: gr.Button
    status: gr.HTML
    report: gr.Textbox
    plot: gr.LinePlot


def method_choices() -> tuple[list[str], str]:
    """The pitch methods that can run here, and a line for each one that cannot, saying why."""
    from rvc.pitch.methods import F0_METHODS, method_status

    statuses = [method_status(m) for m in F0_METHODS]
    ok = [s.method for s in statuses if s.available]
    notes = [f"- **{s.method}**: {s.reason}" for s in statuses if not s.available]
    return ok, "\n".join(notes)


def default_method(methods: list[str], cls: type = ExtractConfig) -> str:
    """The config's default pitch method when it can run here, else the first that can."""
    default = spec(cls, "f0_method").default
    return default if default in methods else methods[0]


def extract_params(ctx: UiContext, exp: Experiment, form: ExtractForm) -> dict[str, Any]:
    """The extract job's parameters (rvc.steps.tasks); the embedder a name, or a server path where allowed."""
    params: dict[str, Any] = {"name": exp.name, "f0_method": form.method, "device": form.device}
    try:
        embedder = embedder_value(form.embedder, ctx.settings.allow_server_paths)
    except RvcError as e:
        raise fail(e, form.lang) from e
    if embedder:
        params["embedder"] = embedder
    return params


def run_extract(ctx: UiContext, form: ExtractForm) -> Iterator[tuple[str, str, gr.LinePlot | Skip]]:
    """Runs Step 2b as a job and follows it; when done, its summary and one piece's pitch."""
    exp = ctx.experiment(form.name, form.lang)
    job = ctx.start_job(exp.name, "extract", extract_params(ctx, exp, form), form.lang)
    status = ""
    for status in ctx.follow(job, form.lang):
        yield status, "", gr.skip()
    if job.status != "done":
        yield status, job.message, gr.skip()
        return
    yield status, job.result.summary(), pitch_plot(exp, job.result)


def pitch_plot(exp: Experiment, report: ExtractReport) -> gr.LinePlot:
    """The pitch track of the first piece that has one."""
    import numpy as np
    import pandas as pd

    shown = next((p for p in report.pieces if not p.skipped and p.f0_frames), None)
    if shown is None:
        return gr.LinePlot(value=pd.DataFrame({"time (s)": [], "F0 (Hz)": []}))
    f0 = np.load(exp.paths.f0_hz / f"{shown.stem}.wav.npy")
    frame = pd.DataFrame({"time (s)": np.arange(len(f0)) / 100.0, "F0 (Hz)": np.where(f0 > 0, f0, np.nan)})
    return gr.LinePlot(value=frame, title=f"F0 · {shown.stem}")


def layout(ctx: UiContext, methods: list[str], unavailable: str) -> FeatureWidgets:
    gr.Markdown(
        L(
            "### Step 2b · Extract pitch and features\nPitch (with pitch guidance) into `2a_f0/` and "
            "`2b-f0nsf/`, HuBERT features into `3_feature256/` (v1) or `3_feature768/` (v2). Missing "
            "weights are downloaded on first use; an interrupted run continues where it stopped."
        )
    )
    with gr.Row():
        method = gr.Radio(
            methods, value=default_method(methods), label=L("Pitch method"),
            info=L("rmvpe: best for most voices; pm/dio: fastest; harvest: slow, smooth; crepe/fcpe: neural"),
            elem_id="ex-method",
        )  # fmt: skip
        device = radio(spec(ExtractConfig, "device"), "Device", elem_id="ex-device")
    gr.Markdown(unavailable, elem_id="ex-unavailable")
    embedder = embedder_box("ex-embedder", ctx.settings.allow_server_paths, for_model=False)
    run = gr.Button(L("Extract"), variant="primary", elem_id="ex-run")
    status = gr.HTML(elem_id="ex-status")
    with gr.Row():
        report = gr.Textbox(label=L("Summary"), lines=6, interactive=False, elem_id="ex-report")
        plot = gr.LinePlot(x="time (s)", y="F0 (Hz)", title=title("Pitch of one piece"), elem_id="ex-plot")
    return FeatureWidgets(method, device, embedder, run, status, report, plot)


def wire(ev: Events, w: FeatureWidgets, name: gr.Textbox) -> None:
    inputs = {"name": name, "method": w.method, "device": w.device, "embedder": w.embedder}
    ev.on(w.run.click, run_extract, ExtractForm, inputs, [w.status, w.report, w.plot], api_name="extract",
          concurrency_limit=None)  # fmt: skip
