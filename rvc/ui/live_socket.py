"""The Live tab's low-latency path: a WebSocket served beside Gradio's own routes, on the same server (so it works
locally, through a share link and on a Space alike), fed by an AudioWorklet in the page (``live_client.js``).

The page opens a session through a Gradio event (the form checked, the model loaded, the login of the app
applied) and gets a single-use ticket for it; the socket at ``/rvc/live/<ticket>?rate=R`` then carries 16-bit
mono PCM at the page's audio rate ``R`` both ways: the microphone in, the converted voice out, block by block as
:meth:`LiveSession.feed` completes them. Once a second a JSON text message gives the session's readout. The
session is freed when the socket closes, and the socket closes when the session is stopped or its page goes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rvc.core.errors import RvcError
from rvc.live.sessions import LiveSession, LiveSessions

logger = logging.getLogger(__name__)

PATH = "/rvc/live/{ticket}"
STATS_EVERY_S = 1.0
RATES = (8000, 192000)  # the page's audio rates accepted
MAX_CHUNK_S = 1.0  # the page sends 20 ms at a time; more than this in one message is refused
UNKNOWN_TICKET, BAD_RATE = 4403, 4400  # close codes (4000-4999: the application's own)


def routes(sessions: LiveSessions) -> list[BaseRoute]:
    """The routes to serve beside Gradio's (``launch(app_kwargs={"routes": ...})``)."""

    async def endpoint(ws: WebSocket) -> None:
        await serve(sessions, ws)

    return [WebSocketRoute(PATH, endpoint)]


def to_pcm16(y: np.ndarray) -> bytes:
    return (np.clip(y, -1.0, 1.0) * 32767).astype("<i2").tobytes()


class _Output:
    """The converted audio at the page's rate (the model's, resampled when the page runs at another)."""

    def __init__(self, model_rate: int, page_rate: int) -> None:
        import soxr

        self.stream = None if model_rate == page_rate else soxr.ResampleStream(model_rate, page_rate, 1, "float32")

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return y if self.stream is None else self.stream.resample_chunk(y.astype(np.float32))


async def serve(sessions: LiveSessions, ws: WebSocket) -> None:
    """One page's stream, until it disconnects or its session is stopped; the session is freed after."""
    session = sessions.claim(ws.path_params.get("ticket", ""))
    try:
        rate = int(ws.query_params.get("rate", "0"))
    except ValueError:
        rate = 0
    if session is None or not RATES[0] <= rate <= RATES[1]:
        if session is not None:
            session.close()
        await ws.close(UNKNOWN_TICKET if session is None else BAD_RATE)
        return
    await ws.accept()
    try:
        await ws.send_json({"type": "ready", **_stats(session)})
        await _stream(session, ws, rate)
        if not session.open:  # stopped from the page, or the page went: the page's socket closes too
            await ws.close(1000)
    except WebSocketDisconnect:
        pass
    except RvcError as e:
        await _error(ws, str(e))
    except Exception:
        logger.exception("live stream failed")
        await _error(ws, "the live stream failed on the server (its log has the details)")
    finally:
        session.close()


async def _stream(session: LiveSession, ws: WebSocket, rate: int) -> None:
    out = _Output(session.engine.sr, rate)
    last = time.monotonic()
    while session.open:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(msg.get("code", 1000))
        data = msg.get("bytes")
        if not data:
            continue
        if len(data) > 2 * rate * MAX_CHUNK_S:
            raise RvcError(f"a live chunk holds at most {MAX_CHUNK_S} s of audio, not {len(data) / 2 / rate:.1f} s")
        x = np.frombuffer(data, dtype="<i2", count=len(data) // 2)
        y = await run_in_threadpool(session.feed, rate, x)  # the conversion must not hold the server's event loop
        if len(y):
            await ws.send_bytes(to_pcm16(out(y)))
        if time.monotonic() - last >= STATS_EVERY_S:
            last = time.monotonic()
            await ws.send_json({"type": "stats", **_stats(session)})


def _stats(session: LiveSession) -> dict[str, Any]:
    e = session.engine
    return {**session.readout(), "lag_ms": (e.nc + e.ns) * 10.0, "precision": e.c.precision_note}


async def _error(ws: WebSocket, message: str) -> None:
    try:
        await ws.send_json({"type": "error", "message": message})
        await ws.close(1011)
    except (RuntimeError, WebSocketDisconnect):  # already gone
        pass
