"""``python -m rvc import URL|FILE``: a shared model (Hugging Face, Google Drive, a direct link, or a file here)
into ``weights/``, with its card."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rvc.cli.args import add_options, options_of
from rvc.cli.printing import print_progress
from rvc.core.options import config_from
from rvc.steps.import_link import ImportConfig


def add_import_command(sub: Any) -> None:
    p = sub.add_parser("import", help="import a shared model (.zip/.pth/.index) from a link or a file into weights/")
    p.add_argument("source", help="a Hugging Face file or repository link, a Google Drive link, a URL, or a file")
    add_options(p, ImportConfig, ("name", "file", "max_gb"))
    p.add_argument("--weights-dir", type=Path, default=Path("weights"), help="where models go (default weights/)")
    p.add_argument("--json", action="store_true", help="print the imported files and card as JSON on stdout")
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from rvc.steps.import_link import ChoiceNeeded, import_model

    config = config_from(ImportConfig, options_of(args, ImportConfig, ("name", "file", "max_gb")))
    try:
        got = import_model(args.source, args.weights_dir, config, print_progress())
    except ChoiceNeeded as e:
        if not sys.stdin.isatty():
            raise
        for i, option in enumerate(e.options, 1):
            print(f"{i}. {option}", file=sys.stderr)
        try:
            picked = input(f"which model (1-{len(e.options)})? ").strip()
        except EOFError:
            picked = ""
        if not picked.isdigit() or not 1 <= int(picked) <= len(e.options):
            print("nothing imported", file=sys.stderr)
            return 1
        config = config_from(ImportConfig, {**config.__dict__, "file": e.options[int(picked) - 1]})
        got = import_model(args.source, args.weights_dir, config, print_progress())
    print(f"imported: {got.model or got.index}\n{got.summary()}", file=sys.stderr)
    if args.json:
        out = {"model": str(got.model) if got.model else None, "index": str(got.index) if got.index else None,
               "card": got.card.to_dict() if got.card else None}  # fmt: skip
        print(json.dumps(out, indent=2))
    return 0
