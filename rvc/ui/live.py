"""The Live tab: the microphone streams to the server in short chunks (Gradio's streaming audio, which works the
same locally, through a share link and on a Space), each browser session converts them with its own engine, and
the converted voice streams back and plays. The readout states the algorithmic latency, the compute per block and
how long the server took to answer each chunk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from rvc.core.errors import RvcError
from rvc.core.options import config_from, spec
from rvc.inference.config import ConvertConfig
from rvc.live.config import LiveConfig
from rvc.live.sessions import LiveBusyError, LiveSession
from rvc.ui.common import L, embedder_box, embedder_value, fail, radio, slider
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form
from rvc.ui.i18n import tr
from rvc.ui.infer import check_model, index_choices, precision_hint
from rvc.ui.train.features import default_method

STOPPED = "stopped"  # the state after Stop: chunks still in flight must not open a new session
CHUNK_S = 0.25  # the microphone sends this much audio per call (shorter: Gradio's round trips fall behind)
LIVE_METHODS = ("rmvpe", "fcpe", "pm")


@dataclass(frozen=True)
class LiveForm(Form):
    model: str | None
    index: str | None
    transpose: float
    method: str
    index_rate: float
    block: float
    crossfade: float
    context: float
    silence_db: float
    device: str
    precision: str
    embedder: str | None
    chunk: Any  # (rate, samples) from the microphone, or None
    session: LiveSession | str | None  # None before the first chunk, STOPPED after Stop
    page: str = field(default="", kw_only=True)  # the browser page (its session is freed when the page goes)


def _configs(ctx: UiContext, form: LiveForm) -> tuple[ConvertConfig, LiveConfig]:
    check_model(ctx, form.model, form.index)
    own = embedder_value(form.embedder, ctx.settings.allow_server_paths)
    cfg = config_from(ConvertConfig, {
        "transpose": form.transpose, "f0_method": form.method, "index": form.index or None,
        "index_rate": form.index_rate, "device": form.device, "precision": form.precision, "embedder": own or None,
    })  # fmt: skip
    live = config_from(LiveConfig, {
        "block": round(form.block, 2), "crossfade": round(form.crossfade, 2), "context": form.context,
        "silence_db": form.silence_db,
    })  # fmt: skip
    return cfg, live


def live_chunk(ctx: UiContext, form: LiveForm) -> tuple[Any, Any, LiveSession | str | None]:
    """A microphone chunk in; the converted audio so far, the readout and the session out. The first chunk of a
    stream opens the session (loading the model once); while every live slot is taken, the readout says so and
    each chunk tries again."""
    session = form.session
    if isinstance(session, str):  # stopped: a chunk sent before Stop arrived after it
        return None, gr.skip(), session
    try:
        if session is None:
            cfg, live = _configs(ctx, form)
            try:
                session = ctx.live.open(Path(form.model or ""), cfg, live, owner=form.page)
            except LiveBusyError as e:  # the stream goes on: it starts by itself when a slot frees
                return None, f"{tr(str(e), form.lang)} {tr('Waiting for a free slot…', form.lang)}", None
        if form.chunk is None:
            return None, readout(session, form.lang), session
        rate, data = form.chunk
        y = session.feed(int(rate), np.asarray(data))
    except RvcError as e:
        raise fail(e, form.lang) from e
    audio = (session.engine.sr, y) if len(y) else None
    return audio, readout(session, form.lang), session


def live_stop(ctx: UiContext, form: LiveForm) -> tuple[str, str]:
    """Stop: the session's slot is freed (the page keeps the last readout), also one still being opened."""
    ctx.live.release_owner(form.page)
    if not isinstance(form.session, LiveSession):
        return tr("Press the microphone's record button to start.", form.lang), STOPPED
    text = readout(form.session, form.lang)
    form.session.close()
    return text, STOPPED


def wire_page(demo: gr.Blocks, ctx: UiContext) -> None:
    """A closed page or a dropped connection frees that page's live session (Gradio's unload event)."""

    def free_page(request: gr.Request) -> None:
        ctx.live.release_owner(str(request.session_hash or ""))

    demo.unload(free_page)


def free_session(session: LiveSession | str | None) -> None:
    """Gradio calls this when a page's state goes (the page closed, the connection dropped)."""
    if isinstance(session, LiveSession):
        session.close()


def readout(session: LiveSession, lang: str) -> str:
    r = session.readout()
    text = tr(
        "Latency: {alg:.0f} ms algorithmic (block + crossfade + search) + the microphone's {chunk:.0f} ms chunks. "
        "Compute per block: median {med:.0f} ms, p99 {p99:.0f} ms ({ok}). Server reply per chunk: median {reply:.0f} "
        "ms. {n} blocks, {silent} silent, {dropped} dropped to catch up, {precision}.",
        lang,
    )
    ok = tr("keeps up" if r["keeps_up"] else "too slow: choose a longer block", lang)
    return text.format(
        alg=r["algorithmic_latency_ms"], chunk=CHUNK_S * 1000, med=r["compute_ms_median"], p99=r["compute_ms_p99"],
        ok=ok, reply=r["reply_ms_median"], n=r["blocks"], silent=r["silent_blocks"], dropped=r["dropped_blocks"],
        precision=session.engine.c.precision_note,
    )  # fmt: skip


@dataclass(frozen=True)
class LiveWidgets:
    tab: gr.Tab
    inputs: dict[str, Any]  # LiveForm's fields but chunk and session
    mic: gr.Audio
    out: gr.Audio
    info: gr.Markdown
    session: gr.State


def layout(ctx: UiContext, methods: list[str]) -> LiveWidgets:
    usable = [m for m in LIVE_METHODS if m in methods] or methods
    with gr.Tab(L("Live"), id="live") as tab:
        gr.Markdown(L("### Speak into the microphone and hear the converted voice"))
        with gr.Row():
            model = gr.Dropdown(ctx.models(), label=L("Model (weights/*.pth)"), elem_id="live-model",
                                allow_custom_value=ctx.settings.allow_server_paths)  # fmt: skip
            index = gr.Dropdown(index_choices(ctx), value="", label=L("Index (optional)"), elem_id="live-index",
                                allow_custom_value=ctx.settings.allow_server_paths)  # fmt: skip
        with gr.Row():
            transpose = slider(spec(ConvertConfig, "transpose"), "Transpose (semitones)")
            method = gr.Radio(usable, value=default_method(usable, ConvertConfig), label=L("Pitch method"),
                              elem_id="live-method")  # fmt: skip
            index_rate = slider(spec(ConvertConfig, "index_rate"), "Index rate")
        with gr.Row():
            block = slider(spec(LiveConfig, "block"), "Block (s)", elem_id="live-block")
            crossfade = slider(spec(LiveConfig, "crossfade"), "Crossfade (s)")
            context = slider(spec(LiveConfig, "context"), "Context (s)", elem_id="live-context")
            silence = slider(spec(LiveConfig, "silence_db"), "Silence below (dBFS)")
        with gr.Row():
            device = radio(spec(ConvertConfig, "device"), "Device", elem_id="live-device")
            precision = radio(spec(ConvertConfig, "precision"), "Precision", info=precision_hint())
        embedder = embedder_box("live-embedder", ctx.settings.allow_server_paths, for_model=True)
        mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label=L("Microphone"), elem_id="live-mic")
        out = gr.Audio(streaming=True, autoplay=True, interactive=False, label=L("Converted"), elem_id="live-out")
        info = gr.Markdown(L("Press the microphone's record button to start."), elem_id="live-readout")
        session = gr.State(None, delete_callback=free_session)
    inputs = {"model": model, "index": index, "transpose": transpose, "method": method, "index_rate": index_rate,
              "block": block, "crossfade": crossfade, "context": context, "silence_db": silence, "device": device,
              "precision": precision, "embedder": embedder}  # fmt: skip
    return LiveWidgets(tab, inputs, mic, out, info, session)


def wire(ev: Events, w: LiveWidgets) -> None:
    inputs = {**w.inputs, "chunk": w.mic, "session": w.session}
    ev.on(w.mic.stream, live_chunk, LiveForm, inputs, [w.out, w.info, w.session], stream_every=CHUNK_S,
          time_limit=3600, api_name="live_chunk", concurrency_limit=None, show_progress="hidden")  # fmt: skip
    ev.on(w.mic.stop_recording, live_stop, LiveForm, inputs, [w.info, w.session], api_name="live_stop")
    w.mic.start_recording(lambda: None, None, [w.session], queue=False, api_visibility="private")  # a new stream
