"""RVC Studio: train Retrieval-based Voice Conversion models and convert audio with them.

The package holds all the logic; ``app.py`` only launches the web UI built in :mod:`rvc.ui`. One subpackage per
part (the README's Layout section draws them and what each may import):

- :mod:`rvc.core`       configs and options, errors, experiment folders, atomic files, locks, progress.
- :mod:`rvc.audio`      FFmpeg decoding (PyAV), resampling, writing, the silence slicer.
- :mod:`rvc.pitch`      F0 methods; :mod:`rvc.content` the HuBERT embedder; :mod:`rvc.nn` shared torch parts.
- :mod:`rvc.models`     the synthesizer, discriminators and their files (``from rvc.models import load_generator``).
- :mod:`rvc.steps`      Step 2a preprocess, 2b extract, 3 train, the index, export and one-click.
- :mod:`rvc.inference`  converting recordings.
- :mod:`rvc.hub`        pretrained weights and Spaces; :mod:`rvc.jobs` the job registry.
- :mod:`rvc.ui`         the Gradio UI; :mod:`rvc.cli` the ``python -m rvc`` command line.

Importing ``rvc`` loads nothing else: no torch, no Gradio.
"""

__version__ = "0.1.0"
