"""Live sessions of a served app: each browser stream has its own engine state, a server runs at most ``limit`` at
once (the next one is told why it must wait), and converters are shared by the sessions that use the same model
and settings (the model, HuBERT and the index are loaded once and kept warm)."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from rvc.core.errors import RvcError
from rvc.inference.config import ConvertConfig
from rvc.live.config import LiveConfig

if TYPE_CHECKING:  # torch: imported when a session opens, not when the page is built
    from rvc.inference.converter import Converter
    from rvc.live.engine import LiveEngine

SR16 = 16000
T = TypeVar("T")
TICKET_S = 60.0  # a ticket not claimed within this many seconds expires, and its session is closed


class LiveBusyError(RvcError):
    """Every live slot of this server is taken."""


@dataclass
class LiveSession:
    """One browser stream: its engine, the input not yet a whole block, and how long each reply took."""

    key: str
    engine: LiveEngine
    registry: LiveSessions
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    rate: int = 0  # the microphone's sample rate
    resampler: Any = None
    replies_ms: list[float] = field(default_factory=list)  # chunk received -> its converted audio returned
    started: float = 0.0  # perf_counter when the stream's first audio would have begun
    received_s: float = 0.0  # seconds of microphone audio received

    def feed(self, rate: int, chunk: np.ndarray) -> np.ndarray:
        """A microphone chunk (any rate, int16 or float, mono or not) in; the converted audio of every whole block
        it completes out (model rate; empty until a block is complete). When the chunks arrive later than real
        time by more than ``max_backlog`` blocks (conversion fell behind, or the model was loading), a block is
        dropped (silence goes out) and the count starts again: the delay stays bounded. Runs on the sessions'
        compute thread (:meth:`LiveSessions.run`), whichever thread calls it."""
        return self.registry.run(self._feed, rate, chunk)

    def _feed(self, rate: int, chunk: np.ndarray) -> np.ndarray:
        import soxr

        t0 = time.perf_counter()
        if not self.started:
            self.started = t0 - len(chunk) / max(rate, 1)
        self.received_s += len(chunk) / max(rate, 1)
        x = chunk.astype(np.float32)
        if chunk.dtype.kind == "i":
            x /= 32768.0
        if x.ndim == 2:
            x = x.mean(axis=1)
        if self.resampler is None or rate != self.rate:
            self.rate, self.resampler = rate, soxr.ResampleStream(rate, SR16, 1, dtype="float32")
        x = np.concatenate([self.pending, self.resampler.resample_chunk(x)])
        n, out = self.engine.block_samples, []
        while len(x) >= n:
            # the microphone runs in real time: audio that reaches us this late waited behind slower blocks
            behind = time.perf_counter() - self.started - self.received_s
            if behind > self.engine.cfg.max_backlog * self.engine.cfg.block:
                out.append(self.engine.skip(x[:n]))
                self.started += behind  # the backlog is forgiven: a new one must build before the next drop
            else:
                out.append(self.engine.process(x[:n]))
            x = x[n:]
        self.pending = x
        self.replies_ms.append((time.perf_counter() - t0) * 1000)
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def readout(self) -> dict[str, Any]:
        block_ms = self.engine.cfg.block * 1000
        s = self.engine.stats.summary(block_ms)
        r = np.array(self.replies_ms or [0.0])
        reply = {
            "reply_ms_median": round(float(np.median(r)), 1),
            "reply_ms_p99": round(float(np.percentile(r, 99)), 1),
        }
        return {"block_ms": block_ms, "algorithmic_latency_ms": self.engine.latency_ms, **s, **reply}

    @property
    def open(self) -> bool:
        """Still holding its slot (not stopped, its page not closed)."""
        return self.registry.is_active(self.key)

    def close(self) -> None:
        self.registry.release(self.key)


def warm_up(conv: Converter, live: LiveConfig) -> None:
    """One block of quiet noise through a throwaway engine: a model's first call at a shape builds its kernels
    (about a second), which would otherwise fall on the stream's first block and make it drop the next ones."""
    import dataclasses

    from rvc.live.engine import LiveEngine

    engine = LiveEngine(conv, dataclasses.replace(live, silence_db=-100.0))
    noise = np.random.default_rng(0).standard_normal(engine.block_samples).astype(np.float32)
    engine.process(0.01 * noise)


class LiveSessions:
    """The live slots of one server and the converters they share."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active: dict[str, float] = {}  # key -> when it started
        self.owners: dict[str, str] = {}  # the browser page a session belongs to -> its key
        self.lock = threading.Lock()
        self.converters: dict[tuple[Any, ...], Converter] = {}
        self.tickets: dict[str, tuple[LiveSession, float]] = {}  # ticket -> the session it opens, when it expires
        # The sessions' torch work (their converters' loading and every block) runs on this one thread, which ends
        # with the last session: a thread that has run torch keeps an OpenMP team while it lives, and every team
        # beyond the CPUs' count slows all torch work in the process (rvc.core.workers.on_own_thread, the same
        # rule for one-off work). Blocks come every few hundred ms, so this one lives as long as sessions do.
        self.compute: ThreadPoolExecutor | None = None

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the sessions' compute thread (the caller waits; not to be called from that thread)."""
        with self.lock:  # submitted under the lock that lets the thread go: never to one already let go
            if self.compute is None:
                self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rvc-live")
            future = self.compute.submit(fn, *args)
        return future.result()

    def _let_go_when_idle(self) -> None:
        """With no session left, the compute thread finishes what it has and ends (called with the lock held)."""
        if not self.active and self.compute is not None:
            self.compute.shutdown(wait=False)
            self.compute = None

    def open(self, model: Path, cfg: ConvertConfig, live: LiveConfig, owner: str = "") -> LiveSession:
        """A new session (of the page ``owner``, whose earlier one it replaces); raises LiveBusyError when every
        slot is taken (nothing is loaded then)."""
        if owner:
            self.release_owner(owner)
        with self.lock:
            if len(self.active) >= self.limit:
                raise LiveBusyError(
                    f"{len(self.active)} live session(s) are running, the most this server allows: "
                    "try again when one stops (each takes the CPU or GPU in real time)"
                )
            key = uuid.uuid4().hex
            self.active[key] = time.time()
            if owner:
                self.owners[owner] = key
        from rvc.live.engine import LiveEngine

        try:
            conv = self.run(self._converter, model, cfg)
            self.run(warm_up, conv, live)
            return LiveSession(key, LiveEngine(conv, live), self)
        except BaseException:
            self.release(key)
            raise

    def _converter(self, model: Path, cfg: ConvertConfig) -> Converter:
        key = (str(model), Path(model).stat().st_mtime_ns, cfg)
        with self.lock:
            conv = self.converters.get(key)
        if conv is None:
            from rvc.inference.converter import Converter

            conv = Converter(model, cfg)
            with self.lock:
                self.converters = {key: conv}  # the last one only: a model is hundreds of MB
        return conv

    def ticket(self, session: LiveSession) -> str:
        """A single-use secret that hands ``session`` to a connection of its own (the page's WebSocket): only a
        page that opened the session through the app (its login included) has it. Unclaimed, it expires after
        :data:`TICKET_S` and the session is closed."""
        self._expire()
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tickets[token] = (session, time.monotonic() + TICKET_S)
        return token

    def claim(self, token: str) -> LiveSession | None:
        """The session of an unexpired ticket, once; None for an unknown, used or expired one."""
        self._expire()
        with self.lock:
            found = self.tickets.pop(token, None)
        return found[0] if found is not None and found[0].open else None

    def _expire(self) -> None:
        now = time.monotonic()
        with self.lock:
            gone = [t for t, (_, until) in self.tickets.items() if until < now]
            stale = [self.tickets.pop(t)[0] for t in gone]
        for session in stale:
            session.close()

    def is_active(self, key: str) -> bool:
        with self.lock:
            return key in self.active

    def release(self, key: str) -> None:
        with self.lock:
            self.active.pop(key, None)
            self.owners = {o: k for o, k in self.owners.items() if k != key}
            self._let_go_when_idle()

    def release_owner(self, owner: str) -> None:
        """Frees the session of the browser page ``owner`` (closed, or its connection dropped)."""
        with self.lock:
            key = self.owners.pop(owner, None)
            if key is not None:
                self.active.pop(key, None)
            self._let_go_when_idle()

    @property
    def running(self) -> int:
        with self.lock:
            return len(self.active)
