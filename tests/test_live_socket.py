"""The Live tab's WebSocket path: the Start handler's ticket, the socket's stream (PCM in, converted PCM out at the
page's rate, readouts), and every way it ends or is refused: an unknown, used or expired ticket, a bad rate, Stop,
the page closing, a disconnect."""

import dataclasses
import json

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from rvc.inference.convert import ConvertConfig
from rvc.live import sessions as S
from rvc.live.config import LiveConfig
from rvc.ui import live_socket
from tests.test_live import live_form, small_model


@pytest.fixture
def served(tmp_path, embedder_dir, monkeypatch):
    """A live registry of one slot, a session opened on a narrow 40k model, and a client of the socket's route."""
    monkeypatch.setattr(live_socket, "STATS_EVERY_S", 0.0)  # a readout after every chunk
    sessions = S.LiveSessions(limit=1)
    cfg = ConvertConfig(f0_method="pm", embedder=embedder_dir, device="cpu", precision="fp32")
    live = LiveConfig(block=0.1, crossfade=0.02, context=0.4, silence_db=-100)
    session = sessions.open(small_model(tmp_path / "m.pth"), cfg, live, owner="page-1")
    with TestClient(Starlette(routes=live_socket.routes(sessions))) as client:
        yield sessions, session, client


def pcm(seconds: float, rate: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return live_socket.to_pcm16(0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)))


@pytest.mark.parametrize("rate", [40000, 48000])
def test_the_socket_converts_the_stream_at_the_pages_rate(served, rate):
    """20 ms chunks of 16-bit PCM in; the converted voice out at the page's rate (the model's 40 kHz resampled for
    a 48 kHz page), as much as went in less the block not yet complete and the resamplers' delay; a readout
    with the engine's figures; the slot freed when the page disconnects."""
    sessions, session, client = served
    ticket = sessions.ticket(session)
    sent, got, stats = pcm(1.0, rate), 0, None
    with client.websocket_connect(f"/rvc/live/{ticket}?rate={rate}") as ws:
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["algorithmic_latency_ms"] == 130 and ready["lag_ms"] == 30
        step = rate // 50 * 2  # bytes of 20 ms
        for i in range(0, len(sent), step):
            ws.send_bytes(sent[i : i + step])
            while True:  # each chunk gets a readout, after the audio it completed (if any)
                msg = ws.receive()
                if msg.get("bytes"):
                    got += len(msg["bytes"]) // 2
                    continue
                stats = json.loads(msg["text"])
                break
    assert stats is not None and stats["type"] == "stats"
    assert stats["blocks"] + stats["dropped_blocks"] == 9  # converted, or dropped if this machine fell behind
    assert 0.87 * rate <= got <= 0.9 * rate  # 9 whole blocks of 100 ms, less the resamplers' delay (< 30 ms)
    assert sessions.running == 0 and not session.open  # the disconnect freed the slot


def test_tickets_are_single_use_secrets_and_bad_rates_are_refused(served):
    sessions, session, client = served
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/rvc/live/not-a-ticket?rate=40000"):
            pass
    assert refused.value.code == live_socket.UNKNOWN_TICKET
    ticket = sessions.ticket(session)
    assert len(ticket) >= 32 and ticket != sessions.ticket(session)
    with pytest.raises(WebSocketDisconnect) as bad:
        with client.websocket_connect(f"/rvc/live/{ticket}?rate=abc"):
            pass
    assert bad.value.code == live_socket.BAD_RATE and sessions.running == 0  # refused: its session is freed
    with pytest.raises(WebSocketDisconnect) as used:
        with client.websocket_connect(f"/rvc/live/{ticket}?rate=40000"):
            pass
    assert used.value.code == live_socket.UNKNOWN_TICKET


def test_an_unclaimed_ticket_expires_and_frees_its_slot(served, monkeypatch):
    sessions, session, client = served
    monkeypatch.setattr(S, "TICKET_S", -1.0)
    ticket = sessions.ticket(session)
    assert sessions.claim(ticket) is None and sessions.running == 0 and not session.open


def test_stop_or_a_closed_page_closes_the_socket(served):
    """Stop (or Gradio's unload of the page) frees the session: the socket closes normally on its next chunk."""
    sessions, session, client = served
    ticket = sessions.ticket(session)
    with client.websocket_connect(f"/rvc/live/{ticket}?rate=40000") as ws:
        assert ws.receive_json()["type"] == "ready"
        sessions.release_owner("page-1")
        ws.send_bytes(pcm(0.02, 40000))
        messages = [ws.receive()]
        while messages[-1]["type"] != "websocket.close":
            messages.append(ws.receive())
    assert messages[-1]["code"] == 1000 and sessions.running == 0


def test_start_hands_the_page_a_ticket_and_waits_when_every_slot_is_taken(tmp_path, embedder_dir):
    """The Start handler: the form checked, the session opened, a ticket JSON with the socket's path, the model's
    rate and the client's texts in the page's language; with every slot taken, a busy answer the client retries;
    Stop frees the page's session."""
    import gradio as gr

    from rvc.ui.context import AppSettings, UiContext
    from rvc.ui.live import PageForm, live_close, live_open

    (tmp_path / "weights").mkdir()
    model = small_model(tmp_path / "weights" / "voice.pth")
    ctx = UiContext.open(AppSettings(logs_dir=tmp_path / "logs", live_sessions=1))
    opened, text = live_open(ctx, live_form(model, embedder_dir, None, None, page="a", lang="pt-BR"))
    t = json.loads(opened)
    assert t["rate"] == 40000 and t["block_ms"] == 100 and t["path"].startswith("rvc/live/")
    assert "De ponta a ponta" in t["texts"]["readout"] and "Conectando: 130 ms" in text and ctx.live.running == 1
    busy, text = live_open(ctx, live_form(model, embedder_dir, None, None, page="b"))
    assert json.loads(busy)["busy"] and "1 live session(s) are running" in text and ctx.live.running == 1
    assert live_close(ctx, PageForm(page="a")) == ("", "Stopped.") and ctx.live.running == 0
    with pytest.raises(gr.Error, match="Choose a model"):  # the page's message, nothing opened
        live_open(ctx, dataclasses.replace(live_form(model, embedder_dir, None, None, page="a"), model=""))
    with pytest.raises(gr.Error, match="block"):  # a setting out of range: its message
        live_open(ctx, live_form(model, embedder_dir, None, None, page="a", block=0.01))
    assert ctx.live.running == 0
    assert ctx.live.claim(t["path"].rsplit("/", 1)[1]) is None  # a stopped session's ticket opens nothing


def test_a_chunk_longer_than_a_second_ends_the_stream_with_a_message(served):
    sessions, session, client = served
    ticket = sessions.ticket(session)
    with client.websocket_connect(f"/rvc/live/{ticket}?rate=16000") as ws:
        assert ws.receive_json()["type"] == "ready"
        ws.send_bytes(pcm(1.5, 16000))
        error = ws.receive_json()
        assert error == {"type": "error", "message": "a live chunk holds at most 1.0 s of audio, not 1.5 s"}
        assert ws.receive()["code"] == 1011
    assert sessions.running == 0
