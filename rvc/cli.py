"""The ``python -m rvc`` command line. Each command calls the same functions as the web UI.

Exit status 0 on success; otherwise 1 with one ``error: ...`` line on stderr (2 for bad arguments, 130 when
interrupted). Progress goes to stderr; ``--json`` puts a machine-readable result on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rvc.config import SAMPLE_RATES, VERSIONS
from rvc.errors import RvcError

logger = logging.getLogger("rvc.cli")


def _logs_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--logs-dir",
        type=Path,
        default=None,
        help="folder holding the experiments (default: $RVC_LOGS_DIR, else ./logs)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rvc", description="RVC Studio command line")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("create", help="Step 1: create (or reopen) an experiment")
    p.add_argument("name", help="experiment name: letters, digits, '-', '_', '.'; up to 64 characters")
    p.add_argument("--sample-rate", choices=SAMPLE_RATES, default="40k", help="model sample rate (default 40k)")
    p.add_argument("--version", choices=VERSIONS, default="v2", help="v1 (256-d) or v2 (768-d features; default)")
    p.add_argument("--no-f0", action="store_true", help="no pitch guidance (lighter; not for singing)")
    p.add_argument("--json", action="store_true", help="print the experiment config as JSON on stdout")
    _logs_dir_arg(p)
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("preprocess", help="Step 2a: slice and normalise a folder of recordings")
    p.add_argument("name", help="experiment name (create it first)")
    p.add_argument("dataset_dir", type=Path, help="folder of recordings; only its top level is read")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument(
        "--segment", type=float, default=3.7, help="piece length in seconds (3.7 default, 3.0 for small GPUs)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    _logs_dir_arg(p)
    p.set_defaults(func=cmd_preprocess)
    return parser


def cmd_create(args: argparse.Namespace) -> int:
    from rvc.experiment import ExperimentConfig, create_or_open

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
    from rvc.experiment import open_experiment
    from rvc.preprocess import NothingUsableError, PreprocessConfig, Progress, preprocess_dataset

    experiment = open_experiment(args.name, args.logs_dir)
    config = PreprocessConfig(segment_seconds=args.segment, workers=args.workers)

    def progress(p: Progress) -> None:
        r = p.result
        what = f"{r.pieces} pieces" if r.status == "ok" else f"skipped: {r.reason}"
        print(f"[{p.done}/{p.total}] {r.name}: {what}", file=sys.stderr, flush=True)
        for w in r.warnings:
            print(f"    warning: {w}", file=sys.stderr, flush=True)

    try:
        report = preprocess_dataset(experiment, args.dataset_dir, config, on_progress=progress)
    except NothingUsableError as e:
        if args.json:
            print(json.dumps(e.report.to_dict(), indent=2, ensure_ascii=False))
        raise
    print(report.summary().splitlines()[0], file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("rvc.preprocess").setLevel(logging.WARNING)  # the CLI prints its own progress lines
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted; the previous output was kept", file=sys.stderr)
        return 130
    except (RvcError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
