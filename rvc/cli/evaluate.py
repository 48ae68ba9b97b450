"""``python -m rvc score``, ``eval`` and ``compare``: the metrics of one recording against another, and of trained
models on an experiment's held-out pieces (or a folder of recordings of the voice) and on probes of other voices."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rvc.cli.args import add_option, logs_dir_arg, options_of
from rvc.core.options import config_from

EVAL_FIELDS = ("probes", "index", "f0_method", "embedder", "device")
FLAGS = {"probes": "--probe"}
COLUMNS = (
    ("score", "score", "{:.4f}"), ("mcd_db", "MCD dB", "{:.2f}"), ("f0_rmse_cents", "F0 RMSE ¢", "{:.1f}"),
    ("vuv_error", "V/UV err", "{:.3f}"), ("speaker_similarity", "speaker", "{:.3f}"),
    ("content_similarity", "content", "{:.3f}"), ("probe_speaker_similarity", "probe spk", "{:.3f}"),
    ("probe_baseline_similarity", "probe base", "{:.3f}"), ("probe_f0_correlation", "probe F0 r", "{:.3f}"),
)  # fmt: skip


SCORE_FIELDS = ("embedder", "f0_method", "version", "device")
SCORE_LINES = (
    ("mcd_db", "mel-cepstral distortion", "{:.2f} dB (lower is better)"),
    ("f0_rmse_cents", "F0 RMSE", "{:.1f} cents (lower is better)"),
    ("vuv_error", "voiced/unvoiced error", "{:.3f} (lower is better)"),
    ("speaker_similarity", "speaker similarity", "{:.3f} (1 = same voice)"),
    ("content_similarity", "content similarity", "{:.3f} (1 = same words)"),
    ("score", "score", "{:.4f} (0..1, higher is better)"),
)


def add_eval_commands(sub: Any) -> None:
    from rvc.evaluation.score import ScoreConfig
    from rvc.steps.judging import EvalConfig

    p = sub.add_parser("score", help="compare two recordings of the same words (MCD, F0, voicing, speaker, content)")
    p.add_argument("reference", type=Path, help="the reference recording (e.g. the original singer)")
    p.add_argument("test", type=Path, help="the recording to measure against it (e.g. a cover or a conversion)")
    for field in SCORE_FIELDS:
        add_option(p, ScoreConfig, field)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    p.set_defaults(func=cmd_score)

    for name, many, text in (
        ("eval", False, "the metrics of a model on an experiment's held-out pieces or a folder of recordings"),
        ("compare", True, "several models on the same pieces and probes, best first"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("models", nargs="+" if many else 1, type=Path, metavar="MODEL", help="small model .pth file(s)")
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--experiment", help="judge on this experiment's held-out pieces")
        where.add_argument("--data", type=Path, help="judge on the recordings at the top level of this folder")
        for field in EVAL_FIELDS:
            add_option(p, EvalConfig, field, FLAGS.get(field))
        p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
        logs_dir_arg(p)
        p.set_defaults(func=cmd_eval)


def cmd_score(args: argparse.Namespace) -> int:
    from rvc.evaluation.score import ScoreConfig, score_files

    m = score_files(args.reference, args.test, config_from(ScoreConfig, options_of(args, ScoreConfig, SCORE_FIELDS)))
    values = m.to_dict()
    if args.json:
        print(json.dumps(values, indent=2))
        return 0
    if m.delay_seconds:
        print(f"aligned: the test starts {m.delay_seconds:+.3f} s from the reference")
    for key, label, fmt in SCORE_LINES:
        v = values[key]
        print(f"{label:>24}: {'- (nothing to measure)' if v is None else fmt.format(v)}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rvc.core.experiment import open_experiment
    from rvc.steps.judging import EvalConfig, evaluate_models

    config = config_from(EvalConfig, options_of(args, EvalConfig, EVAL_FIELDS))
    experiment = open_experiment(args.experiment, args.logs_dir) if args.experiment else None

    def done(model: Path, evaluation: Any) -> None:
        print(f"{model.name}: score {evaluation.score:.4f} ({evaluation.seconds:.1f} s)", file=sys.stderr, flush=True)

    ranked = evaluate_models(args.models, experiment, args.data, config, on_model=done)
    if ranked and ranked[0].evaluation.on_training_pieces:
        print("note: no held-out pieces (train with --holdout > 0): judged on training pieces", file=sys.stderr)
    if args.json:
        rows = [{"model": str(r.model), **r.evaluation.to_dict()} for r in ranked]
        print(json.dumps(rows[0] if args.command == "eval" else rows, indent=2))
    else:
        print(table(ranked))
    return 0


def table(ranked: list[Any]) -> str:
    """The models' metrics as an aligned text table, best first (columns with no value anywhere left out)."""
    cols = [c for c in COLUMNS if any(r.evaluation.metrics.get(c[0]) is not None for r in ranked)]
    rows = [["model", *(c[1] for c in cols)]]
    for r in ranked:
        m = r.evaluation.metrics
        rows.append([r.model.name, *("-" if m.get(k) is None else f.format(m[k]) for k, _, f in cols)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    )
