"""Step 1: experiments. An experiment is the folder ``logs/<name>/`` holding everything one voice model needs.

Its ``config.json`` is the reference's VITS config (``train``, ``data``, ``model``: RVC WebUI and Applio read
this file as it is) plus an ``experiment`` section with the user's choices, so one file holds both the choices
and the resolved model/training config.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rvc import __version__
from rvc.core.config import (
    FEATURE_DIM,
    SAMPLE_RATE_HZ,
    SAMPLE_RATES,
    VERSIONS,
    SampleRate,
    Version,
    check_sample_rate,
    check_version,
    load_model_config,
)
from rvc.core.errors import ExperimentConflictError, ExperimentNotFoundError, InvalidNameError
from rvc.core.files import write_json_atomic  # also imported from here by rvc.steps.preprocess
from rvc.core.options import option

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Names that cannot be experiments: "mute" holds the reference's silent training clips (logs/mute/), and
# Windows refuses the device names as folder names.
RESERVED_NAMES = frozenset(
    ["mute"] + ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(1, 10)] + [f"lpt{i}" for i in range(1, 10)]
)
CONFIG_FILE = "config.json"
LOGS_DIR_ENV = "RVC_LOGS_DIR"


def default_logs_dir() -> Path:
    """``$RVC_LOGS_DIR`` when set, else ``./logs``."""
    return Path(os.environ.get(LOGS_DIR_ENV) or "logs")


def validate_name(name: str, logs_dir: Path | None = None) -> str:
    """Returns ``name`` if it can name an experiment folder, else raises :class:`InvalidNameError`.

    Allowed: letters, digits, ``-``, ``_`` and ``.``; 1 to 64 characters; not only dots; not a reserved name;
    and the folder must resolve to a direct child of the logs folder.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError("Experiment name is empty: type a name such as my-voice")
    if len(name) > 64:
        raise InvalidNameError(f"Experiment name is {len(name)} characters long; the limit is 64")
    if "/" in name or "\\" in name:
        raise InvalidNameError(f"Experiment name {name!r} contains a path separator; use a plain name like my-voice")
    if not NAME_PATTERN.fullmatch(name):
        bad = sorted({c for c in name if not re.fullmatch(r"[A-Za-z0-9._-]", c)})
        raise InvalidNameError(
            f"Experiment name {name!r} contains {' '.join(repr(c) for c in bad)}: "
            "use only letters, digits, '-', '_' and '.'"
        )
    if set(name) == {"."}:
        raise InvalidNameError(f"Experiment name {name!r} is only dots; use a real name like my-voice")
    if name.lower() in RESERVED_NAMES or name.lower().split(".")[0] in RESERVED_NAMES - {"mute"}:
        raise InvalidNameError(f"Experiment name {name!r} is reserved; choose another name")
    if logs_dir is not None:
        root = Path(logs_dir).resolve()
        target = (root / name).resolve()
        if target.parent != root:
            raise InvalidNameError(f"Experiment name {name!r} resolves outside the logs folder {root}")
    return name


@dataclass(frozen=True)
class ExperimentConfig:
    """The choices of Step 1."""

    name: str
    sample_rate: SampleRate = option("40k", "model sample rate (default {default})", choices=SAMPLE_RATES)
    version: Version = option("v2", "v1 (256-d) or v2 (768-d features; default)", choices=VERSIONS)
    use_f0: bool = option(True, "pitch guidance (off: lighter; not for singing)")

    def __post_init__(self) -> None:
        validate_name(self.name)
        check_sample_rate(self.sample_rate)
        check_version(self.version)
        if not isinstance(self.use_f0, bool):
            raise ValueError(f"use_f0 must be true or false, not {self.use_f0!r}")

    @property
    def sample_rate_hz(self) -> int:
        return SAMPLE_RATE_HZ[self.sample_rate]

    @property
    def feature_dim(self) -> int:
        return FEATURE_DIM[self.version]


@dataclass(frozen=True)
class ExperimentPaths:
    """Every path of one experiment folder, in the reference layout."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def gt_wavs(self) -> Path:
        return self.root / "0_gt_wavs"

    @property
    def wavs16k(self) -> Path:
        return self.root / "1_16k_wavs"

    @property
    def f0_coarse(self) -> Path:
        return self.root / "2a_f0"

    @property
    def f0_hz(self) -> Path:
        return self.root / "2b-f0nsf"

    def features(self, version: Version) -> Path:
        return self.root / f"3_feature{FEATURE_DIM[version]}"

    @property
    def preprocess_report(self) -> Path:
        return self.root / "preprocess.json"

    @property
    def preprocess_log(self) -> Path:
        return self.root / "preprocess.log"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"


@dataclass(frozen=True)
class Experiment:
    """An experiment on disk: its choices, its folder, and the resolved reference config."""

    config: ExperimentConfig
    paths: ExperimentPaths
    model_config: dict[str, Any]

    @property
    def name(self) -> str:
        return self.config.name


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ExperimentNotFoundError(f"Cannot read the experiment config {path}: {e}") from e
    if not isinstance(data, dict):
        raise ExperimentNotFoundError(f"The experiment config {path} is not a JSON object")
    return data


def _stored_choices(data: dict[str, Any]) -> dict[str, Any] | None:
    section = data.get("experiment")
    if isinstance(section, dict) and {"sample_rate", "version", "use_f0"} <= section.keys():
        return {k: section[k] for k in ("sample_rate", "version", "use_f0")}
    return None


def _differences(stored: dict[str, Any], wanted: ExperimentConfig) -> list[str]:
    labels = {"sample_rate": "sample rate", "version": "version", "use_f0": "pitch guidance"}

    def show(key: str, value: Any) -> str:
        return ("on" if value else "off") if key == "use_f0" else str(value)

    return [
        f"{labels[k]} is {show(k, stored[k])} (you chose {show(k, getattr(wanted, k))})"
        for k in labels
        if stored[k] != getattr(wanted, k)
    ]


def create_or_open(config: ExperimentConfig, logs_dir: Path | None = None) -> tuple[Experiment, bool]:
    """Creates ``logs/<name>/`` with its config, or reopens it when it exists with the same choices.

    Returns ``(experiment, created)``. A folder made by RVC WebUI or Applio (no ``experiment`` section in its
    config, or no config yet) is adopted with the given choices, provided its stored sample rate agrees.

    Raises:
        InvalidNameError: the name cannot be used.
        ExperimentConflictError: the experiment exists with other choices; the message lists each difference.
    """
    logs_dir = Path(logs_dir) if logs_dir is not None else default_logs_dir()
    validate_name(config.name, logs_dir)
    paths = ExperimentPaths(logs_dir / config.name)
    if paths.root.exists() and not paths.root.is_dir():
        raise ExperimentConflictError(f"{paths.root} exists and is not a folder")
    created = not paths.config.exists()
    data = load_model_config(config.sample_rate, config.version)
    if not created:
        stored_data = _read_json(paths.config)
        stored = _stored_choices(stored_data)
        if stored is not None:
            diffs = _differences(stored, config)
            if diffs:
                raise ExperimentConflictError(
                    f"Experiment {config.name!r} already exists with other settings: {'; '.join(diffs)}. "
                    "Reopen it with its own settings, or choose a new name."
                )
            return Experiment(config, paths, stored_data), False
        old_rate = stored_data.get("data", {}).get("sampling_rate")
        if old_rate is not None and old_rate != config.sample_rate_hz:
            raise ExperimentConflictError(
                f"Experiment {config.name!r} already exists with sample rate {old_rate} Hz "
                f"(you chose {config.sample_rate}). Reopen it with its own settings, or choose a new name."
            )
        data = {**data, **{k: v for k, v in stored_data.items() if k in ("train", "data", "model")}}  # keep its config
    paths.root.mkdir(parents=True, exist_ok=True)
    data["experiment"] = {
        **asdict(config),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rvc_studio_version": __version__,
    }
    write_json_atomic(paths.config, data)
    return Experiment(config, paths, data), created


def open_experiment(name: str, logs_dir: Path | None = None) -> Experiment:
    """Opens an existing experiment by name.

    Raises:
        InvalidNameError: the name cannot be used.
        ExperimentNotFoundError: there is no such experiment (or it has no Step 1 choices stored).
    """
    logs_dir = Path(logs_dir) if logs_dir is not None else default_logs_dir()
    validate_name(name, logs_dir)
    paths = ExperimentPaths(logs_dir / name)
    if not paths.config.is_file():
        raise ExperimentNotFoundError(
            f"Experiment {name!r} does not exist in {logs_dir}: create it first (Step 1, or `python -m rvc create {name}`)"
        )
    data = _read_json(paths.config)
    stored = _stored_choices(data)
    if stored is None:
        raise ExperimentNotFoundError(
            f"Experiment {name!r} has no Step 1 settings yet: run Step 1 (or `python -m rvc create {name}`) to set them"
        )
    return Experiment(ExperimentConfig(name=name, **stored), paths, data)


def list_experiments(logs_dir: Path | None = None) -> list[str]:
    """Names of the experiments under the logs folder that have Step 1 settings, sorted."""
    logs_dir = Path(logs_dir) if logs_dir is not None else default_logs_dir()
    if not logs_dir.is_dir():
        return []
    names = []
    for child in sorted(logs_dir.iterdir()):
        if child.is_dir() and (child / CONFIG_FILE).is_file() and NAME_PATTERN.fullmatch(child.name):
            names.append(child.name)
    return names
