"""Argument groups several commands share (experiments folder, training settings) and the training config
they give."""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import Any

from rvc.core.options import config_from, spec


def logs_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--logs-dir",
        type=Path,
        default=None,
        help="folder holding the experiments (default: $RVC_LOGS_DIR, else ./logs)",
    )


# settings whose declared choices are suggestions: a device may also be cuda:1
OPEN_CHOICES = ("device",)
PREPROCESS_FIELDS = ("segment_seconds", "workers")
EXTRACT_FIELDS = ("f0_method", "embedder", "rmvpe", "workers", "device")
CONVERT_FIELDS = (
    "index", "transpose", "f0_method", "index_rate", "filter_radius", "rms_mix_rate", "protect", "resample_sr",
    "speaker", "device", "embedder", "rmvpe", "precision",
)  # fmt: skip
FLAGS = {"segment_seconds": "--segment"}


def add_options(p: argparse.ArgumentParser, cls: type, names: tuple[str, ...]) -> None:
    """:func:`add_option` for each of ``names``, in that order (the order of ``--help``)."""
    for name in names:
        add_option(p, cls, name, FLAGS.get(name))


def options_of(args: argparse.Namespace, cls: type, names: tuple[str, ...]) -> dict[str, Any]:
    """The values the command line gave for these settings of ``cls`` (for :func:`config_from`)."""
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


# CLI flags whose names differ from the TrainConfig fields they set (the rest: --field-name)
TRAIN_FLAGS: dict[str, str] = {"cache_on_gpu": "--cache-gpu", "num_workers": "--loader-workers", "probes": "--probe"}
TRAIN_FIELDS = (
    "epochs", "max_steps", "batch_size", "save_every", "latest_only", "save_small", "pretrained_g", "pretrained_d",
    "no_pretrained", "device", "precision", "cache_on_gpu", "compile", "num_workers", "log_every",
    "discriminator_scale", "weights_dir", "holdout", "eval_every", "patience", "probes", "no_eval", "seed",
)  # fmt: skip


def add_option(p: argparse.ArgumentParser, cls: type, name: str, flag: str | None = None) -> None:
    """``--flag`` for the setting ``cls.name``: its type, default, help and (for a fixed set) choices come from the
    config's declaration (:func:`rvc.core.options.spec`); a bool is a switch that turns it on."""
    s = spec(cls, name)
    flag = flag or "--" + name.replace("_", "-")
    hint = typing.get_type_hints(cls)[name]
    if hint is bool:
        p.add_argument(flag, dest=name, action="store_true", help=s.help)
        return
    if typing.get_origin(hint) is typing.Literal or (s.choices and name not in OPEN_CHOICES):
        choices = list(typing.get_args(hint)) if typing.get_origin(hint) is typing.Literal else list(s.choices or ())
        p.add_argument(flag, dest=name, choices=choices, default=s.default, help=s.help)
        return
    metavar = flag.lstrip("-").replace("-", "_").upper()
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]: the flag repeated
        p.add_argument(flag, dest=name, type=typing.get_args(hint)[0], action="append", help=s.help, metavar=metavar)
        return
    kinds = [k for k in (int, float, Path) if k is hint or k in typing.get_args(hint)]
    p.add_argument(flag, dest=name, type=kinds[0] if kinds else str, default=s.default, help=s.help, metavar=metavar)


def train_args(p: argparse.ArgumentParser) -> None:
    from rvc.steps.train.config import TrainConfig

    for name in TRAIN_FIELDS:
        add_option(p, TrainConfig, name, TRAIN_FLAGS.get(name))


def train_config(args: argparse.Namespace) -> Any:
    from rvc.steps.train.config import TrainConfig

    return config_from(TrainConfig, {name: getattr(args, name) for name in TRAIN_FIELDS})
