"""The Live tab. Start streams the microphone to the server over a WebSocket from an AudioWorklet and plays the
converted voice back through the same worklet (``live_socket.py``, ``live_client.js``): the lowest latency this
page can have, with the end to end measured in the page. A second path, Gradio's own streaming audio (the
microphone component below it), is kept for networks that block WebSockets: it adds the microphone's 250 ms
chunks and the buffering of a streamed audio player. Each browser session converts with its own engine; the
readouts state the algorithmic latency, the compute per block and, for the WebSocket path, the end to end."""

from __future__ import annotations

import json
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
from rvc.ui import live_socket
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
class LiveSettingsForm(Form):
    """The settings of a live stream, and the page it belongs to."""

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
    page: str = field(default="", kw_only=True)  # the browser page (its session is freed when the page goes)


@dataclass(frozen=True)
class LiveForm(LiveSettingsForm):
    """A chunk of Gradio's streaming microphone, with the settings and the stream's session."""

    chunk: Any  # (rate, samples) from the microphone, or None
    session: LiveSession | str | None  # None before the first chunk, STOPPED after Stop


@dataclass(frozen=True)
class PageForm(Form):
    page: str = field(default="", kw_only=True)


def client_js() -> str:
    """The WebSocket path's client (``live_client.js``): the page runs it with the ticket after Start."""
    return Path(__file__).with_name("live_client.js").read_text()


STOP_JS = "() => { if (window.rvcLive && window.rvcLive.stop) window.rvcLive.stop(); }"
RETRY_MS = 3000  # a page waiting for a free slot asks again this often


def client_texts(lang: str) -> dict[str, str]:
    """The page's texts for the WebSocket client, in the page's language ({names} filled in by the client)."""
    texts = {
        "started": "Streaming: speak. The end-to-end latency appears in a moment.",
        "readout": "End to end: {e2e} ms, measured in this page = {alg} ms algorithmic (block + crossfade + search) + "
        "{rest} ms of transport, compute and playback buffer, + {dev} ms the browser reports for its audio devices. "
        "Compute per block: median {med} ms, p99 {p99} ms. {blocks} blocks, {silent} silent, {dropped} dropped to "
        "catch up; {gaps} gaps in playback (jitter buffer now {jitter} ms); {precision}.",
        "no_audio": "No microphone or audio output could be opened in this browser: {error}",
        "error": "The live stream stopped: {error}",
        "dropped": "The live connection was refused or lost (a network that blocks WebSockets? The microphone "
        "below streams through Gradio instead).",
    }
    return {k: tr(v, lang) for k, v in texts.items()}


def live_open(ctx: UiContext, form: LiveSettingsForm) -> tuple[str, str]:
    """Start (WebSocket path): the form checked, the session opened (the model loaded once), and a single-use
    ticket for the page's socket. Out: the ticket JSON for the client, and the readout. Every slot taken: the
    readout says why and the client asks again every few seconds."""
    texts = client_texts(form.lang)
    try:
        cfg, live = _configs(ctx, form)
        session = ctx.live.open(Path(form.model or ""), cfg, live, owner=form.page)
    except LiveBusyError as e:
        return json.dumps({"busy": True, "retry_ms": RETRY_MS, "texts": texts}), _waiting(e, form.lang)
    except RvcError as e:
        raise fail(e, form.lang) from e
    ticket = ctx.live.ticket(session)
    engine = session.engine
    opened = {"path": live_socket.PATH.format(ticket=ticket).lstrip("/"), "rate": engine.sr,
              "block_ms": engine.cfg.block * 1000, "texts": texts}  # fmt: skip
    text = tr("Connecting: {alg:.0f} ms algorithmic latency (block + crossfade + search), {precision}.", form.lang)
    return json.dumps(opened), text.format(alg=engine.latency_ms, precision=engine.c.precision_note)


def _waiting(busy: LiveBusyError, lang: str) -> str:
    return f"{tr(str(busy), lang)} {tr('Waiting for a free slot…', lang)}"


def live_close(ctx: UiContext, form: PageForm) -> tuple[str, str]:
    """Stop (WebSocket path): the page's session is freed (its socket then closes)."""
    ctx.live.release_owner(form.page)
    return "", tr("Stopped.", form.lang)


def _configs(ctx: UiContext, form: LiveSettingsForm) -> tuple[ConvertConfig, LiveConfig]:
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
                return None, _waiting(e, form.lang), None
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
class SocketWidgets:
    """The WebSocket path's controls: Start, Stop, the ticket handed to the client, the client's readout."""

    start: gr.Button
    stop: gr.Button
    ticket: gr.Textbox
    e2e: gr.HTML


@dataclass(frozen=True)
class LiveWidgets:
    tab: gr.Tab
    inputs: dict[str, Any]  # LiveForm's fields but chunk and session
    mic: gr.Audio
    out: gr.Audio
    info: gr.Markdown
    session: gr.State
    socket: SocketWidgets


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
        with gr.Row():
            start = gr.Button(L("Start"), variant="primary", scale=0, elem_id="live-ws-start")
            stop = gr.Button(L("Stop"), scale=0, elem_id="live-ws-stop")
        e2e = gr.HTML('<p id="live-e2e"></p>')  # the client writes the end-to-end readout here
        ticket = gr.Textbox(visible=False, elem_id="live-ticket")
        info = gr.Markdown(L("Press Start (or the microphone's record button below) to start."), elem_id="live-readout")
        with gr.Accordion(L("Through Gradio's streaming audio (more latency; for networks that block WebSockets)"),
                          open=False):  # fmt: skip
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label=L("Microphone"),
                           elem_id="live-mic")  # fmt: skip
            out = gr.Audio(streaming=True, autoplay=True, interactive=False, label=L("Converted"), elem_id="live-out")
        session = gr.State(None, delete_callback=free_session)
    inputs = {"model": model, "index": index, "transpose": transpose, "method": method, "index_rate": index_rate,
              "block": block, "crossfade": crossfade, "context": context, "silence_db": silence, "device": device,
              "precision": precision, "embedder": embedder}  # fmt: skip
    return LiveWidgets(tab, inputs, mic, out, info, session, SocketWidgets(start, stop, ticket, e2e))


def wire(ev: Events, w: LiveWidgets) -> None:
    inputs = {**w.inputs, "chunk": w.mic, "session": w.session}
    ev.on(w.mic.stream, live_chunk, LiveForm, inputs, [w.out, w.info, w.session], stream_every=CHUNK_S,
          time_limit=3600, api_name="live_chunk", concurrency_limit=None, show_progress="hidden")  # fmt: skip
    ev.on(w.mic.stop_recording, live_stop, LiveForm, inputs, [w.info, w.session], api_name="live_stop")
    w.mic.start_recording(lambda: None, None, [w.session], queue=False, api_visibility="private")  # a new stream
    ws = w.socket
    ev.on(ws.start.click, live_open, LiveSettingsForm, w.inputs, [ws.ticket, w.info], api_name="live_open",
          concurrency_limit=None).success(None, [ws.ticket], None, js=client_js())  # fmt: skip
    ws.stop.click(None, js=STOP_JS)
    ev.on(ws.stop.click, live_close, PageForm, {}, [ws.ticket, w.info], api_name="live_close")
