"""RVC Studio: train Retrieval-based Voice Conversion models and convert audio with them.

The package holds all the logic; ``app.py`` only builds the web UI on top of it. Modules, one per step:

- :mod:`rvc.core.experiment`  Step 1: experiment folders ``logs/<name>/`` and their config.
- :mod:`rvc.audio.io`       FFmpeg decoding (PyAV), resampling, WAV writing.
- :mod:`rvc.audio.slicer`      the silence slicer used by preprocessing.
- :mod:`rvc.steps.preprocess`  Step 2a: dataset preprocessing into ``0_gt_wavs/`` and ``1_16k_wavs/``.
- :mod:`rvc.cli`         the ``python -m rvc`` command line.
"""

__version__ = "0.1.0"
