"""The networks of RVC and their files: the synthesizer (``G_*.pth``, small models), the multi-period
discriminators (``D_*.pth``), training checkpoints and shared model packages.

The public entry points are re-exported here: ``from rvc.models import load_generator``.
"""

from rvc.core.errors import ModelFileError
from rvc.models.decoder import Decoder, HarmonicSource, ResBlock
from rvc.models.discriminator import PERIODS, MultiPeriodDiscriminator, PeriodDiscriminator, ScaleDiscriminator
from rvc.models.modules import RelativeAttention, sequence_mask
from rvc.models.synthesizer import (
    Synthesizer,
    SynthesizerConfig,
    check_state,
    load_generator,
    random_starts,
    slice_segments,
)

__all__ = [
    "PERIODS",
    "Decoder",
    "HarmonicSource",
    "ModelFileError",
    "MultiPeriodDiscriminator",
    "PeriodDiscriminator",
    "RelativeAttention",
    "ResBlock",
    "ScaleDiscriminator",
    "Synthesizer",
    "SynthesizerConfig",
    "check_state",
    "load_generator",
    "random_starts",
    "sequence_mask",
    "slice_segments",
]
