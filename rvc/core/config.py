"""Model/training configs (the reference VITS JSON files in ``configs/``) and the choices that select them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, get_args

SampleRate = Literal["32k", "40k", "48k"]
Version = Literal["v1", "v2"]

SAMPLE_RATES: tuple[str, ...] = get_args(SampleRate)
VERSIONS: tuple[str, ...] = get_args(Version)
SAMPLE_RATE_HZ: dict[str, int] = {"32k": 32000, "40k": 40000, "48k": 48000}
FEATURE_DIM: dict[str, int] = {"v1": 256, "v2": 768}
# what the device settings offer; "cuda:1" and the like are accepted too (rvc.nn.devices.resolve_device)
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


def check_sample_rate(sample_rate: str) -> SampleRate:
    """Returns ``sample_rate`` if it is one of 32k/40k/48k, else raises ValueError with the allowed values."""
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"sample rate must be one of {', '.join(SAMPLE_RATES)}, not {sample_rate!r}")
    return sample_rate  # type: ignore[return-value]


def check_version(version: str) -> Version:
    """Returns ``version`` if it is v1 or v2, else raises ValueError."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
    return version  # type: ignore[return-value]


def config_path(sample_rate: SampleRate, version: Version, configs_dir: Path = CONFIGS_DIR) -> Path:
    """The reference config file for a sample rate and version.

    The reference ships no ``v2/40k.json``: v2 at 40 kHz trains with the v1/40k generator shape (and the 768-d
    content encoder and v2 discriminator, which the config does not describe), so it resolves to ``v1/40k.json``.
    """
    check_sample_rate(sample_rate)
    check_version(version)
    folder = "v1" if version == "v1" or sample_rate == "40k" else "v2"
    return configs_dir / folder / f"{sample_rate}.json"


def load_model_config(sample_rate: SampleRate, version: Version, configs_dir: Path = CONFIGS_DIR) -> dict[str, Any]:
    """The resolved reference config (``train``, ``data``, ``model`` sections) as a fresh dict."""
    return json.loads(config_path(sample_rate, version, configs_dir).read_text(encoding="utf-8"))
