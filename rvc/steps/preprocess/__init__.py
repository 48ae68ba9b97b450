"""Step 2a: preprocessing a folder of recordings into the experiment's training pieces.

For every file at the top level of the dataset folder (sorted by name; subfolders are not read): FFmpeg decode
to mono float32 at the model rate, 48 Hz high-pass, silence slicing, ~3.7 s pieces with 0.3 s overlap,
volume normalisation, then ``0_gt_wavs/<i>_<j>.wav`` (model rate) and ``1_16k_wavs/<i>_<j>.wav`` (16 kHz),
float32 WAV; ``<i>`` is the file's position in the sorted listing and ``<j>`` counts its pieces.

A run writes into a staging folder and swaps it in only when every file is done, so the experiment always
holds the previous complete output or none; ``preprocess.json`` (the report) is written last and marks the
output complete. Later steps call :func:`load_report`, which refuses anything else.

The parts: ``config`` (the settings), ``dataset`` (which files are read; uploads), ``pieces`` (one file, in a
worker), ``run`` (the run), ``staging`` (the staging folder and the swap), ``report`` (the results and their
check).
"""

from rvc.steps.preprocess.config import PreprocessConfig
from rvc.steps.preprocess.dataset import collect_uploads, list_dataset
from rvc.steps.preprocess.pieces import FileTask, highpass, normalize, process_file, segment_bounds
from rvc.steps.preprocess.report import FileResult, NothingUsableError, PreprocessReport, load_report
from rvc.steps.preprocess.run import preprocess_dataset
from rvc.steps.preprocess.staging import STAGING_PREFIX, TRASH_PREFIX, cleanup_leftovers

__all__ = [
    "STAGING_PREFIX",
    "TRASH_PREFIX",
    "FileResult",
    "FileTask",
    "NothingUsableError",
    "PreprocessConfig",
    "PreprocessReport",
    "cleanup_leftovers",
    "collect_uploads",
    "highpass",
    "list_dataset",
    "load_report",
    "normalize",
    "preprocess_dataset",
    "process_file",
    "segment_bounds",
]
