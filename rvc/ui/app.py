"""The page: a header, the Train, Infer, Live and Jobs tabs, and the events that span them. Each tab lives in its own
module (the Train tab in one per step, :mod:`rvc.ui.train`); this one only puts them together."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from starlette.routing import BaseRoute

from rvc.ui import infer, jobs, live, live_socket
from rvc.ui.common import OPEN_LANGUAGE_SETTINGS, L
from rvc.ui.context import AppSettings, UiContext
from rvc.ui.forms import Events
from rvc.ui.train.features import method_choices
from rvc.ui.train.tab import train_tab


@dataclass(frozen=True)
class Page:
    """The UI and the routes served beside Gradio's (the Live tab's WebSocket): ``launch(app_kwargs={"routes":
    page.routes})``."""

    demo: gr.Blocks
    routes: list[BaseRoute]


def build_demo(settings: AppSettings) -> gr.Blocks:
    """The UI alone (its Live tab's WebSocket path needs :func:`build_page`'s routes served beside it)."""
    return build_page(settings).demo


def build_page(settings: AppSettings) -> Page:
    """The whole UI for an app served with ``settings``. Starting it imports no torch and loads no model."""
    ctx = UiContext.open(settings)
    methods, unavailable = method_choices()  # the pitch methods this installation can run
    with gr.Blocks(title="RVC Studio", delete_cache=(3600, 86400)) as demo:
        lang = gr.Textbox("en", visible=False, elem_id="ui-lang")  # the page's language (see WITH_LANG)
        ev = Events(ctx, lang)
        banner = header(settings)
        with gr.Tabs():
            step1 = train_tab(ev, demo, methods, unavailable)
            infer_tab = infer.layout(ctx, methods)
            live_tab = live.layout(ctx, methods)
            jobs_tab = jobs.layout(ctx)
        infer.wire(ev, infer_tab)
        live.wire(ev, live_tab)
        live.wire_page(demo, ctx)
        jobs.wire(ev, jobs_tab)
        jobs.wire_page(ev, demo, banner, step1.name)
    return Page(demo, live_socket.routes(ctx.live))


def header(settings: AppSettings) -> gr.Markdown:
    """The title, the language switch, the Space's notice and the banner of interrupted jobs (returned)."""
    gr.Markdown(L("# RVC Studio\nTrain a voice model from your recordings, then convert audio with it."))
    with gr.Row():
        gr.Markdown(L("Language: Settings, at the foot of the page."), elem_id="lang-note")
        gr.Button("🌐 English · Português", scale=0, size="sm", elem_id="lang-switch").click(
            None, js=OPEN_LANGUAGE_SETTINGS
        )
    if settings.space is not None:
        gr.Markdown(settings.space.notice(), elem_id="space-note")
    return gr.Markdown(elem_id="jobs-banner")
