"""The ``python -m rvc`` command line. Each command calls the same functions as the web UI.

Exit status 0 on success; otherwise 1 with one ``error: ...`` line on stderr (2 for bad arguments, 130 when
interrupted). Progress goes to stderr; ``--json`` puts a machine-readable result on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rvc.audio.encode import FORMATS
from rvc.cli.args import (
    CONVERT_FIELDS,
    EXTRACT_FIELDS,
    PREPROCESS_FIELDS,
    add_options,
    logs_dir_arg,
    options_of,
    train_args,
    train_config,
)
from rvc.cli.evaluate import add_eval_commands
from rvc.cli.importing import add_import_command
from rvc.cli.live import add_live_command
from rvc.cli.printing import print_progress
from rvc.core.config import SAMPLE_RATES, VERSIONS
from rvc.core.errors import RvcError
from rvc.core.options import config_from
from rvc.inference.config import ConvertConfig
from rvc.pitch.methods import F0_METHODS
from rvc.steps.extract import ExtractConfig
from rvc.steps.preprocess import PreprocessConfig

logger = logging.getLogger("rvc.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rvc", description="RVC Studio command line")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_step_commands(sub)
    _add_run_command(sub)
    _add_model_commands(sub)
    add_eval_commands(sub)
    add_live_command(sub)
    add_import_command(sub)
    return parser


def _add_step_commands(sub: Any) -> None:
    """The workflow's steps one by one: create, preprocess, extract, train, export."""
    p = sub.add_parser("create", help="Step 1: create (or reopen) an experiment")
    p.add_argument("name", help="experiment name: letters, digits, '-', '_', '.'; up to 64 characters")
    p.add_argument("--sample-rate", choices=SAMPLE_RATES, default="40k", help="model sample rate (default 40k)")
    p.add_argument("--version", choices=VERSIONS, default="v2", help="v1 (256-d) or v2 (768-d features; default)")
    p.add_argument("--no-f0", action="store_true", help="no pitch guidance (lighter; not for singing)")
    p.add_argument("--json", action="store_true", help="print the experiment config as JSON on stdout")
    logs_dir_arg(p)
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("preprocess", help="Step 2a: slice and normalise a folder of recordings")
    p.add_argument("name", help="experiment name (create it first)")
    p.add_argument("dataset_dir", type=Path, help="folder of recordings; only its top level is read")
    add_options(p, PreprocessConfig, ("workers", "segment_seconds"))
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    logs_dir_arg(p)
    p.set_defaults(func=cmd_preprocess)
    p = sub.add_parser("extract", help="Step 2b: pitch and HuBERT features of a preprocessed experiment")
    p.add_argument("name", help="experiment name")
    add_options(p, ExtractConfig, EXTRACT_FIELDS)
    p.add_argument("--only", choices=["pitch", "features"], default=None, help="run one stage only")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    logs_dir_arg(p)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("train", help="Step 3: train (or resume) the voice model")
    p.add_argument("name", help="experiment name")
    train_args(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    logs_dir_arg(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="write a small inference model (.pth) from a checkpoint")
    p.add_argument("name", help="experiment name")
    p.add_argument("--checkpoint", type=Path, default=None, help="G_*.pth to export (default: the newest)")
    p.add_argument("--out", type=Path, default=None, help="output file (default weights/<name>.pth)")
    p.add_argument("--zip", action="store_true", help="also write <out>.zip with the model and its index")
    logs_dir_arg(p)
    p.set_defaults(func=cmd_export)


def _add_run_command(sub: Any) -> None:
    """One-click: every step with the settings given, skipping what is up to date."""
    p = sub.add_parser(
        "run", help="one-click: create, preprocess, extract, train, index and export (skips what is up to date)"
    )
    p.add_argument("name", help="experiment name (created if new)")
    p.add_argument("dataset_dir", type=Path, help="folder of recordings; only its top level is read")
    p.add_argument("--sample-rate", choices=SAMPLE_RATES, default="40k", help="model sample rate (default 40k)")
    p.add_argument("--version", choices=VERSIONS, default="v2", help="v1 (256-d) or v2 (768-d features; default)")
    p.add_argument("--no-f0", action="store_true", help="no pitch guidance (lighter; not for singing)")
    add_options(p, PreprocessConfig, ("segment_seconds",))
    p.add_argument("--workers", type=int, default=None, help="processes for Step 2a and pm/harvest/dio")
    add_options(p, ExtractConfig, ("f0_method", "embedder", "rmvpe"))
    train_args(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    logs_dir_arg(p)
    p.set_defaults(func=cmd_run)


def _add_model_commands(sub: Any) -> None:
    """What works on models and audio: info, index, infer, pitch, download."""
    p = sub.add_parser("info", help="show a small model's card (sample rate, version, pitch, epochs, data)")
    p.add_argument("model", type=Path, help="a small model .pth")
    p.add_argument("--json", action="store_true", help="print the card as JSON on stdout")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("index", help="build the feature index (added_IVF….index) from the experiment's features")
    p.add_argument("name", help="experiment name")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    logs_dir_arg(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("infer", help="convert a recording with a trained model (small .pth or G_*.pth)")
    p.add_argument("model", type=Path, help="the model file")
    p.add_argument("input", type=Path, help="any file FFmpeg decodes, or a folder of them (batch mode)")
    p.add_argument("output", type=Path, help="output file (.wav, .flac, .mp3 or .ogg), or a folder in batch mode")
    add_options(p, ConvertConfig, CONVERT_FIELDS[:9])
    p.add_argument("--format", choices=list(FORMATS), default=None, help="default: from OUTPUT")
    add_options(p, ConvertConfig, CONVERT_FIELDS[9:])
    p.add_argument("--json", action="store_true", help="print a summary as JSON on stdout")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("pitch", help="print or save the F0 track of any audio file (16 kHz, 100 frames/s)")
    p.add_argument("audio", type=Path, help="any file FFmpeg decodes")
    p.add_argument("--method", choices=F0_METHODS, default="rmvpe", help="pitch method (default rmvpe)")
    p.add_argument("--weights", type=Path, default=None, help="weights file for rmvpe/crepe/fcpe (default: downloaded)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", type=Path, default=None, help="save the track as .npy (Hz, 0 = unvoiced)")
    p.add_argument("--json", action="store_true", help="print the track and a summary as JSON")
    p.set_defaults(func=cmd_pitch)

    p = sub.add_parser("download", help="fetch and verify pretrained weights into pretrained/")
    p.add_argument("names", nargs="*", help="registry names (see --list)")
    p.add_argument("--all", action="store_true", help="every file of the registry")
    p.add_argument("--list", action="store_true", help="list the registry and what is on disk")
    p.set_defaults(func=cmd_download)


def cmd_extract(args: argparse.Namespace) -> int:
    from rvc.core.experiment import open_experiment
    from rvc.steps.extract import ExtractConfig, extract

    experiment = open_experiment(args.name, args.logs_dir)
    stages = (args.only,) if args.only else ("pitch", "features")
    config = config_from(ExtractConfig, options_of(args, ExtractConfig, EXTRACT_FIELDS), stages=stages)
    report = extract(experiment, config, on_progress=print_progress())
    print(report.summary(), file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rvc.core.experiment import open_experiment
    from rvc.core.progress import Progress
    from rvc.steps.train.loop import train

    experiment = open_experiment(args.name, args.logs_dir)
    config = train_config(args)
    last = {"t": 0.0, "epoch": 0}

    def progress(report: Progress) -> None:
        p = report.detail
        now = time.monotonic()
        if p.epoch != last["epoch"] or now - last["t"] > 5:
            loss = ", ".join(f"{k} {v:.3f}" for k, v in p.losses.items() if k in ("loss_mel", "loss_g", "loss_d"))
            print(f"epoch {p.epoch}/{p.epochs} step {p.step}: {loss}", file=sys.stderr, flush=True)
            last.update(t=now, epoch=p.epoch)

    result = train(experiment, config, on_progress=progress)
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(
        f"done: epoch {result.epoch}, step {result.step}, started from {result.started_from}; small model {result.small_model}",
        file=sys.stderr,
    )
    if result.best is not None:
        print(f"best checkpoint: epoch {result.best_epoch}, kept as {result.best}", file=sys.stderr)
    if result.stop_reason:
        print(f"stopped: {result.stop_reason}", file=sys.stderr)
    if args.json:
        out = {k: str(v) if isinstance(v, Path) else v for k, v in result.__dict__.items()}
        print(json.dumps(out, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from rvc.core.experiment import open_experiment
    from rvc.steps.export import export_model, package_model

    experiment = open_experiment(args.name, args.logs_dir)
    result = export_model(experiment, checkpoint=args.checkpoint, out=args.out)
    print(f"small model written: {result.model}", file=sys.stderr)
    if args.zip:
        result = package_model(experiment, result.model)
        if result.index is None:
            print("no index yet (python -m rvc index NAME): the zip holds the model only", file=sys.stderr)
        print(f"package written: {result.package}", file=sys.stderr)
        if result.best_package is not None:
            print(f"best-scoring model's package written: {result.best_package}", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from rvc.core.experiment import ExperimentConfig
    from rvc.steps.extract import ExtractConfig
    from rvc.steps.oneclick import RunConfig, run
    from rvc.steps.preprocess import PreprocessConfig

    config = RunConfig(
        experiment=ExperimentConfig(args.name, args.sample_rate, args.version, not args.no_f0),
        dataset_dir=args.dataset_dir,
        preprocess=config_from(PreprocessConfig, options_of(args, PreprocessConfig, PREPROCESS_FIELDS)),
        extract=config_from(ExtractConfig, options_of(args, ExtractConfig, EXTRACT_FIELDS)),
        train=train_config(args),
        weights_dir=args.weights_dir,
    )
    result = run(config, args.logs_dir, print_progress(every=2.0))
    for o in result.stages:
        print(f"{o.stage}: {o.status} ({o.seconds:.1f} s) {o.detail}", file=sys.stderr)
    print(f"model: {result.model}\nindex: {result.index}\npackage: {result.package}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from rvc.models.package import read_card

    card = read_card(args.model)
    print(card.summary(), file=sys.stderr)
    if args.json:
        print(json.dumps(card.to_dict(), indent=2))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from rvc.core.experiment import open_experiment
    from rvc.steps.index import train_index

    result = train_index(open_experiment(args.name, args.logs_dir), on_progress=print_progress())
    print(f"index written: {result.path} ({result.vectors} vectors, IVF{result.n_lists})", file=sys.stderr)
    if args.json:
        print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in result.__dict__.items()}, indent=2))
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    from rvc.inference.convert import ConvertConfig, convert_file, convert_folder

    cfg = config_from(ConvertConfig, options_of(args, ConvertConfig, CONVERT_FIELDS))
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if args.input.is_dir():
        items = convert_folder(args.model, args.input, args.output, cfg, args.format or "wav", on_progress=say)
        ok = [i for i in items if i.result]
        for i in items:
            print(f"{i.source.name}: {i.result.output if i.result else 'skipped: ' + i.error}", file=sys.stderr)
        print(f"{len(ok)} of {len(items)} files converted into {args.output}", file=sys.stderr)
        if args.json:
            rows = [
                {"source": str(i.source), "output": str(i.result.output) if i.result else None, "error": i.error}
                for i in items
            ]
            print(json.dumps(rows, indent=2))
        return 0 if ok else 1
    r = convert_file(args.model, args.input, args.output, cfg, args.format, on_progress=say)
    print(
        f"written: {r.output} ({r.seconds:.2f} s at {r.sample_rate} Hz, {r.chunks} part(s), {r.precision}, embedder {r.embedder}; {r.timings})",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in r.__dict__.items()}, indent=2))
    return 0


def cmd_pitch(args: argparse.Namespace) -> int:
    import numpy as np

    from rvc.audio.io import decode_audio
    from rvc.nn.devices import resolve_device
    from rvc.pitch.methods import METHOD_WEIGHTS, make_estimator, method_status

    status = method_status(args.method)
    if not status.available and args.method not in METHOD_WEIGHTS:  # missing weights: ensure() explains
        raise RvcError(f"pitch method {args.method} is unavailable: {status.reason}")
    device = resolve_device(args.device)
    if args.method == "rmvpe":
        from rvc.hub import weights

        estimate = make_estimator("rmvpe", rmvpe_path=args.weights or weights.ensure("rmvpe"), device=device)
    elif args.method in ("crepe", "crepe-tiny", "fcpe"):
        from rvc.pitch import neural as neural_pitch

        estimate = neural_pitch.make(args.method, device, args.weights)
    else:
        estimate = make_estimator(args.method)
    audio = decode_audio(args.audio, 16000)
    f0 = estimate(audio.samples)
    voiced = f0[f0 > 0]
    summary = {
        "file": str(args.audio),
        "method": args.method,
        "frames": len(f0),
        "frame_rate": 100,
        "seconds": round(len(audio.samples) / 16000, 3),
        "voiced_ratio": round(float((f0 > 0).mean()), 4) if len(f0) else 0.0,
        "median_hz": round(float(np.median(voiced)), 2) if len(voiced) else None,
    }
    if args.out:
        np.save(args.out, f0)
    if args.json:
        print(json.dumps({**summary, "f0": [round(float(v), 3) for v in f0]}))
    elif not args.out:
        for i, v in enumerate(f0):
            print(f"{i / 100:.2f}\t{v:.2f}")
    print(
        f"{summary['frames']} frames, {summary['voiced_ratio']:.0%} voiced, median {summary['median_hz']} Hz",
        file=sys.stderr,
    )
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from rvc.hub import weights

    reg = weights.registry()
    if args.list or not (args.names or args.all):
        have = weights.status()
        for name, (what, files) in sorted(reg.items()):
            known = [f.size for f in files if f.size is not None]
            size = f"{sum(known) / 1e6:8.1f} MB" if len(known) == len(files) else "    size ?"
            print(f"{'ok ' if have[name] else '-  '} {name:20} {size}  {what}; {weights.provenance(name)}")
        return 0
    names = sorted(reg) if args.all else args.names
    unknown = [n for n in names if n not in reg]
    if unknown:
        raise RvcError(f"unknown weights {', '.join(unknown)}; see `python -m rvc download --list`")
    for name in names:
        path = weights.ensure(name, on_progress=print_progress())
        print(f"{name}: {path} (verified)", file=sys.stderr)
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    from rvc.core.experiment import ExperimentConfig, create_or_open

    config = ExperimentConfig(args.name, args.sample_rate, args.version, use_f0=not args.no_f0)
    experiment, created = create_or_open(config, args.logs_dir)
    verb = "created" if created else "reopened"
    logger.info(
        "%s experiment %s (%s, %s, pitch guidance %s) in %s",
        verb,
        config.name,
        config.sample_rate,
        config.version,
        "on" if config.use_f0 else "off",
        experiment.paths.root,
    )
    if args.json:
        print(json.dumps({"created": created, "path": str(experiment.paths.root), **experiment.model_config}, indent=2))
    return 0


def cmd_preprocess(args: argparse.Namespace) -> int:
    from rvc.core.experiment import open_experiment
    from rvc.core.progress import Progress
    from rvc.steps.preprocess import NothingUsableError, PreprocessConfig, preprocess_dataset

    experiment = open_experiment(args.name, args.logs_dir)
    config = config_from(PreprocessConfig, options_of(args, PreprocessConfig, PREPROCESS_FIELDS))

    def progress(p: Progress) -> None:
        r = p.detail  # the file's FileResult
        what = f"{r.pieces} pieces" if r.status == "ok" else f"skipped: {r.reason}"
        print(f"[{p.done}/{p.total}] {r.name}: {what}", file=sys.stderr, flush=True)
        for w in r.warnings:
            print(f"    warning: {w}", file=sys.stderr, flush=True)

    try:
        report = preprocess_dataset(experiment, args.dataset_dir, config, on_progress=progress)
    except NothingUsableError as e:  # the report says why each file was skipped: one JSON document with the error
        report_error(e, json_out=False)
        if args.json:
            document = {**e.report.to_dict(), "error": error_line(e), "kind": type(e).__name__}
            print(json.dumps(document, indent=2, ensure_ascii=False))
        return 1
    print(report.summary().splitlines()[0], file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    return 0


def report_error(e: BaseException, json_out: bool) -> None:
    """The error contract: ``error: <message>`` on one line of stderr; with ``--json`` also
    ``{"error": <message>, "kind": <class name>}`` on stdout, so that scripts read it where they read results."""
    message = error_line(e)
    print(f"error: {message}", file=sys.stderr)
    if json_out:
        print(json.dumps({"error": message, "kind": type(e).__name__}))


def error_line(e: BaseException) -> str:
    """An error's message on one line, whatever the message's own line breaks."""
    return " ".join(str(e).strip(chr(39)).split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("rvc.steps.preprocess").setLevel(logging.WARNING)  # the CLI prints its own progress lines
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted; the previous output was kept", file=sys.stderr)
        return 130
    except (RvcError, ValueError, KeyError) as e:  # a user's error (RvcError) or a bad value: never a traceback
        report_error(e, json_out=bool(getattr(args, "json", False)))
        return 1
