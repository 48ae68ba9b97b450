"""Step 1 · Experiment: create or reopen ``logs/<name>/`` with its sample rate, version and pitch guidance."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from gradio.components import Component

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment, ExperimentConfig, create_or_open, list_experiments
from rvc.core.options import config_from, spec
from rvc.ui.common import L, Skip, checkbox, fail, radio
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form, NameForm
from rvc.ui.i18n import tr


@dataclass(frozen=True)
class ExperimentForm(Form):
    name: str | None
    sample_rate: str
    use_f0: bool
    version: str


@dataclass(frozen=True)
class ExperimentWidgets:
    existing: gr.Dropdown
    refresh: gr.Button
    name: gr.Textbox
    sample_rate: gr.Radio
    use_f0: gr.Checkbox
    version: gr.Radio
    create: gr.Button
    status: gr.Markdown

    def choices(self) -> dict[str, Component]:
        """Step 1's choices, as the forms that create an experiment name them."""
        return {"name": self.name, "sample_rate": self.sample_rate, "use_f0": self.use_f0, "version": self.version}


def summary(exp: Experiment, created: bool, lang: str) -> str:
    c = exp.config
    verb = tr("Created" if created else "Opened", lang)
    pitch = tr("on" if c.use_f0 else "off", lang)
    return (
        f"{verb} **{c.name}**: {c.sample_rate}, {c.version} ({c.feature_dim}-d), "
        f"{tr('pitch guidance', lang)} {pitch}. `{exp.paths.root}`"
    )


def experiment_config(form: ExperimentForm) -> ExperimentConfig:
    """Step 1's choices as the experiment's config (raises RvcError for a bad name or choice)."""
    choices = {"sample_rate": form.sample_rate, "version": form.version, "use_f0": form.use_f0}
    return config_from(ExperimentConfig, choices, name=(form.name or "").strip())


def open_or_create(ctx: UiContext, form: ExperimentForm) -> tuple[Experiment, bool]:
    """The experiment of ``form``, created when new; a bad name or a conflict is the page's error."""
    try:
        return create_or_open(experiment_config(form), ctx.logs_dir)
    except RvcError as e:
        raise fail(e, form.lang) from e


def create_experiment(ctx: UiContext, form: ExperimentForm) -> tuple[str, gr.Dropdown]:
    exp, created = open_or_create(ctx, form)
    choices = list_experiments(ctx.logs_dir)
    return summary(exp, created, form.lang), gr.Dropdown(choices=choices, value=exp.name)


def load_experiment(ctx: UiContext, form: NameForm) -> tuple[str | Skip, str | Skip, bool | Skip, str | Skip, str]:
    """Step 1's choices of an existing experiment, shown in the page."""
    if not form.name:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), ""
    exp = ctx.experiment(form.name, form.lang)
    c = exp.config
    return c.name, c.sample_rate, c.use_f0, c.version, summary(exp, False, form.lang)


def layout(ctx: UiContext) -> ExperimentWidgets:
    gr.Markdown(L("### Step 1 · Experiment\nEverything of one voice model lives in `logs/<name>/`."))
    with gr.Row():
        existing = gr.Dropdown(
            choices=list_experiments(ctx.logs_dir),
            label=L("Open an existing experiment"),
            value=None,
            allow_custom_value=True,  # experiments made after the page loaded (names are validated)
            elem_id="exp-existing",
        )
        refresh = gr.Button("↻", scale=0, min_width=40, elem_id="exp-refresh")
    with gr.Row():
        name = gr.Textbox(
            label=L("Experiment name"),
            placeholder="my-voice",
            info=L("letters, digits, - _ . (up to 64)"),
            elem_id="exp-name",
        )
        sample_rate = radio(spec(ExperimentConfig, "sample_rate"), "Sample rate", elem_id="exp-sr")
        f0 = checkbox(
            spec(ExperimentConfig, "use_f0"),
            "Pitch guidance",
            info=L("needed for singing; off gives a lighter model"),
            elem_id="exp-f0",
        )
        versions = radio(
            spec(ExperimentConfig, "version"), "Version", info="v1: 256-d, v2: 768-d", elem_id="exp-version"
        )
    create = gr.Button(L("Create / open experiment"), variant="primary", elem_id="exp-create")
    status = gr.Markdown(elem_id="exp-status")
    return ExperimentWidgets(existing, refresh, name, sample_rate, f0, versions, create, status)


def wire(ev: Events, w: ExperimentWidgets, demo: gr.Blocks) -> None:
    ev.on(w.create.click, create_experiment, ExperimentForm, w.choices(), [w.status, w.existing],
          api_name="create_experiment")  # fmt: skip
    ev.on(w.existing.input, load_experiment, NameForm, {"name": w.existing},
          [w.name, w.sample_rate, w.use_f0, w.version, w.status], api_name="open_experiment")  # fmt: skip
    for event in (w.refresh.click, demo.load):
        event(
            lambda: gr.Dropdown(choices=list_experiments(ev.ctx.logs_dir)),
            None,
            [w.existing],
            queue=False,
            api_visibility="private",
        )
