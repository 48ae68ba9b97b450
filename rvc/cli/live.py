"""``python -m rvc live``: live conversion from a microphone to a speaker (local audio devices), or from a file fed
in blocks as a microphone would deliver them (to hear and measure what a listener would)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rvc.cli.args import add_options, options_of
from rvc.core.options import config_from
from rvc.inference.config import ConvertConfig
from rvc.live.config import LiveConfig

LIVE_FIELDS = ("block", "crossfade", "context", "search", "silence_db", "max_backlog")
LIVE_CONVERT_FIELDS = (
    "index", "index_rate", "f0_method", "transpose", "protect", "rms_mix_rate", "speaker", "device", "embedder",
    "rmvpe", "precision",
)  # fmt: skip


def add_live_command(sub: Any) -> None:
    p = sub.add_parser("live", help="live conversion: microphone to speaker, or a file in real-time blocks")
    p.add_argument("model", nargs="?", type=Path, help="small model .pth")
    p.add_argument("--list-devices", action="store_true", help="list the audio devices and exit")
    p.add_argument("--input-device", help="microphone: its number or part of its name (see --list-devices)")
    p.add_argument("--output-device", help="speaker: its number or part of its name")
    p.add_argument("--input", type=Path, help="a recording to feed in blocks instead of a microphone")
    p.add_argument("--output", type=Path, help="where --input's converted audio goes (wav, flac, mp3, ogg)")
    add_options(p, LiveConfig, LIVE_FIELDS)
    add_options(p, ConvertConfig, LIVE_CONVERT_FIELDS)
    p.add_argument("--json", action="store_true", help="print the timings as JSON on stdout")
    p.set_defaults(func=cmd_live)


def cmd_live(args: argparse.Namespace) -> int:
    from rvc.core.errors import RvcError

    if args.list_devices:
        return _list_devices()
    if args.model is None:
        raise RvcError("live needs a model (or --list-devices)")
    files, devices = args.input is not None or args.output is not None, bool(args.input_device or args.output_device)
    if files == devices:
        raise RvcError("give either --input FILE --output FILE, or --input-device and --output-device")
    live = config_from(LiveConfig, options_of(args, LiveConfig, LIVE_FIELDS))
    cfg = config_from(ConvertConfig, options_of(args, ConvertConfig, LIVE_CONVERT_FIELDS))
    if files:
        if args.input is None or args.output is None:
            raise RvcError("file mode needs both --input and --output")
        return _file_mode(args, cfg, live)
    return _device_mode(args, cfg, live)


def _list_devices() -> int:
    from rvc.live.devices import list_devices

    for d in list_devices():
        kinds = ", ".join(k for k, n in (("in", d.inputs), ("out", d.outputs)) if n)
        print(f"{d.index:3d}  {d.name}  ({kinds}; {d.rate} Hz; {d.host})")
    return 0


def _engine(args: argparse.Namespace, cfg: ConvertConfig, live: LiveConfig) -> Any:
    from rvc.inference.converter import Converter
    from rvc.live.engine import LiveEngine

    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    engine = LiveEngine(Converter(args.model, cfg, say), live)
    say(f"block {live.block * 1000:.0f} ms, algorithmic latency {engine.latency_ms:.0f} ms, {engine.c.precision_note}")
    return engine


def _file_mode(args: argparse.Namespace, cfg: ConvertConfig, live: LiveConfig) -> int:
    from rvc.audio.encode import write_audio
    from rvc.inference.convert import _decode
    from rvc.live.engine import block_that_keeps_up, convert_stream

    fmt = args.output.suffix.lstrip(".").lower() or "wav"
    x = _decode(args.input)
    engine = _engine(args, cfg, live)
    y = convert_stream(engine, x)
    write_audio(args.output, y, engine.sr, fmt)
    result = {"block_ms": live.block * 1000, "algorithmic_latency_ms": engine.latency_ms}
    result |= engine.stats.summary(live.block * 1000) | {"output": str(args.output)}
    line = f"written: {args.output}; {result['blocks']} blocks, compute per block median "
    print(line + f"{result['compute_ms_median']:.0f} ms, p99 {result['compute_ms_p99']:.0f} ms", file=sys.stderr)
    if not result["keeps_up"]:
        result["block_that_keeps_up_s"] = better = block_that_keeps_up(result["compute_ms_p99"], live)
        hint = f"try --block {better}" if better else "no block keeps up at this --context here: shorten it"
        print(f"warning: blocks of {live.block} s do not keep up on this machine: {hint}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def _device_mode(args: argparse.Namespace, cfg: ConvertConfig, live: LiveConfig) -> int:
    from rvc.core.errors import RvcError
    from rvc.live.devices import find_device, run_devices

    if not (args.input_device and args.output_device):
        raise RvcError("device mode needs both --input-device and --output-device")
    source, sink = find_device(args.input_device, "input"), find_device(args.output_device, "output")
    engine = _engine(args, cfg, live)
    print(f"{source.name} -> {sink.name}; Ctrl-C stops", file=sys.stderr)

    def show(stats: Any) -> None:
        if stats.compute_ms and len(stats.compute_ms) % 8 == 0:
            s = stats.summary(live.block * 1000)
            print(f"compute {s['compute_ms_median']:.0f} ms median, {s['compute_ms_p99']:.0f} ms p99; "
                  f"dropped {s['dropped_blocks']}", file=sys.stderr, flush=True)  # fmt: skip

    stats = run_devices(engine, source, sink, show)
    if args.json:
        print(json.dumps(stats.summary(live.block * 1000), indent=2))
    return 0
