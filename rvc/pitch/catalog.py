"""Which weight file (a name in :mod:`rvc.hub.weights`' registry) each model-based pitch method needs: a leaf,
so that the classic methods and the neural estimators both read it without importing each other."""

from __future__ import annotations

NEURAL_WEIGHTS = {"crepe": "crepe-full", "crepe-tiny": "crepe-tiny", "fcpe": "fcpe"}  # method -> registry name
METHOD_WEIGHTS = {"rmvpe": "rmvpe", **NEURAL_WEIGHTS}
