"""Live conversion on local audio devices through PortAudio (``sounddevice``): the input device's audio is
resampled to 16 kHz and cut into blocks, each converted by the engine, resampled to the output device's rate and
played. When conversion falls behind, the oldest waiting blocks are dropped (and the output buffer trimmed), so
the delay stays bounded instead of growing after an overload."""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rvc.core.errors import RvcError
from rvc.inference.converter import SR16
from rvc.live.engine import LiveEngine, LiveStats

logger = logging.getLogger(__name__)


class AudioDeviceError(RvcError):
    """No PortAudio, no device, or a device that cannot be opened: the message says which and what to do."""


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    inputs: int
    outputs: int
    rate: int  # the device's default sample rate
    host: str


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as e:  # the Python package is there, the PortAudio library is not
        raise AudioDeviceError(
            f"PortAudio is not installed ({e}): install libportaudio2 (scripts/setup.sh does) for audio devices"
        ) from e
    return sounddevice


def list_devices() -> list[AudioDevice]:
    """Every input and output device PortAudio sees. Raises AudioDeviceError when there is none."""
    sd = _sounddevice()
    hosts = [h["name"] for h in sd.query_hostapis()]
    found = [
        AudioDevice(i, d["name"], d["max_input_channels"], d["max_output_channels"], int(d["default_samplerate"]),
                    hosts[d["hostapi"]] if d["hostapi"] < len(hosts) else "")
        for i, d in enumerate(sd.query_devices())
    ]  # fmt: skip
    if not found:
        raise AudioDeviceError(
            "no audio devices: PortAudio sees no microphone or speaker on this machine "
            "(convert a file with --input/--output, or use the Live tab in the browser)"
        )
    return found


def find_device(name: str, kind: str) -> AudioDevice:
    """The device numbered ``name``, or the first whose name contains it; ``kind``: ``input`` or ``output``."""
    devices = list_devices()
    usable = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
    if name.isdigit():
        match = [d for d in usable if d.index == int(name)]
    else:
        match = [d for d in usable if name.lower() in d.name.lower()]
    if not match:
        choices = "; ".join(f"{d.index}: {d.name}" for d in usable) or "none"
        raise AudioDeviceError(f"no {kind} device {name!r}: the {kind} devices here are {choices}")
    return match[0]


class _OutputBuffer:
    """Converted audio waiting for the output device; trimmed to ``limit`` samples (the oldest go first)."""

    def __init__(self, limit: int) -> None:
        self.chunks: collections.deque[np.ndarray] = collections.deque()
        self.size, self.limit, self.lock, self.underruns = 0, limit, threading.Lock(), 0

    def push(self, x: np.ndarray) -> None:
        with self.lock:
            self.chunks.append(x)
            self.size += len(x)
            while self.size > self.limit and self.chunks:
                self.size -= len(self.chunks.popleft())

    def pull(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.float32)
        got = 0
        with self.lock:
            while got < n and self.chunks:
                c = self.chunks[0]
                take = min(n - got, len(c))
                out[got : got + take] = c[:take]
                got += take
                if take == len(c):
                    self.chunks.popleft()
                else:
                    self.chunks[0] = c[take:]
                self.size -= take
        if got < n:
            self.underruns += 1
        return out


def run_devices(
    engine: LiveEngine,
    input_device: AudioDevice,
    output_device: AudioDevice,
    on_block: Callable[[LiveStats], None] | None = None,
    stop: threading.Event | None = None,
) -> LiveStats:
    """Converts from ``input_device`` to ``output_device`` until ``stop`` is set (or Ctrl-C); returns the stats."""
    import soxr

    sd = _sounddevice()
    stop = stop or threading.Event()
    blocks: queue.Queue[np.ndarray] = queue.Queue()
    to16 = soxr.ResampleStream(input_device.rate, SR16, 1, dtype="float32")
    to_out = soxr.ResampleStream(engine.sr, output_device.rate, 1, dtype="float32")
    pending = [np.zeros(0, np.float32)]
    out_block = round(engine.out_block * output_device.rate / engine.sr)
    buffer = _OutputBuffer((engine.cfg.max_backlog + 1) * out_block)

    def on_input(data: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        x = np.concatenate([pending[0], to16.resample_chunk(data.mean(axis=1).astype(np.float32))])
        n = engine.block_samples
        while len(x) >= n:
            blocks.put(x[:n].copy())
            x = x[n:]
        pending[0] = x

    def on_output(out: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        out[:] = buffer.pull(frames)[:, None]

    try:
        streams = (
            sd.InputStream(device=input_device.index, channels=1, samplerate=input_device.rate, callback=on_input),
            sd.OutputStream(device=output_device.index, channels=1, samplerate=output_device.rate, callback=on_output),
        )
    except Exception as e:  # PortAudioError: busy, unplugged, a rate it refuses
        raise AudioDeviceError(f"the audio devices could not be opened: {e}") from e
    with streams[0], streams[1]:
        try:
            while not stop.is_set():
                try:
                    block = blocks.get(timeout=0.2)
                except queue.Empty:
                    continue
                while blocks.qsize() >= engine.cfg.max_backlog:  # behind: drop the oldest, keep the delay bounded
                    block = blocks.get_nowait()
                    engine.stats.dropped += 1
                buffer.push(to_out.resample_chunk(engine.process(block)))
                if on_block is not None:
                    on_block(engine.stats)
        except KeyboardInterrupt:
            logger.info("stopped")
    return engine.stats
