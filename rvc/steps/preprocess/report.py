"""What Step 2a leaves for the later steps: one :class:`FileResult` per input file and the run's report,
``preprocess.json``, written last: its presence marks the output complete, and :func:`load_report` refuses
anything else."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rvc.core.errors import DatasetError, IncompleteStepError
from rvc.core.experiment import ExperimentPaths

REPORT_FORMAT = 1


@dataclass
class FileResult:
    """What happened to one input file."""

    index: int
    name: str
    status: Literal["ok", "skipped"]
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # duration of the decoded input
    pieces: int = 0
    piece_seconds: float = 0.0  # audio in the pieces written (overlaps counted once)
    filtered_pieces: int = 0  # pieces dropped for a peak above max_peak
    stems: list[str] = field(default_factory=list)


@dataclass
class PreprocessReport:
    """The report saved as ``logs/<name>/preprocess.json``."""

    run_id: str
    experiment: str
    dataset: str
    sample_rate: int
    settings: dict[str, Any]
    started: str
    finished: str
    wall_seconds: float
    files: list[FileResult]
    ignored_folders: list[str]
    format: int = REPORT_FORMAT

    @property
    def totals(self) -> dict[str, Any]:
        ok = [f for f in self.files if f.status == "ok"]
        return {
            "files": len(self.files),
            "processed": len(ok),
            "skipped": len(self.files) - len(ok),
            "input_seconds": round(sum(f.seconds for f in self.files), 3),
            "kept_seconds": round(sum(f.piece_seconds for f in ok), 3),
            "pieces": sum(f.pieces for f in ok),
            "filtered_pieces": sum(f.filtered_pieces for f in ok),
            "warnings": sum(len(f.warnings) for f in self.files),
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["totals"] = self.totals
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessReport:
        d = {k: v for k, v in d.items() if k != "totals"}
        d["files"] = [FileResult(**f) for f in d["files"]]
        return cls(**d)

    def summary(self) -> str:
        """A few human-readable lines: totals, then one line per skipped or warned file."""
        t = self.totals
        lines = [
            f"{t['processed']} of {t['files']} files processed, {t['skipped']} skipped; "
            f"{t['pieces']} pieces, {t['kept_seconds']:.1f} s kept of {t['input_seconds']:.1f} s "
            f"({self.wall_seconds:.1f} s wall)"
        ]
        for f in self.files:
            if f.status == "skipped":
                lines.append(f"skipped {f.name}: {f.reason}")
            for w in f.warnings:
                lines.append(f"warning {f.name}: {w}")
        if self.ignored_folders:
            lines.append(f"subfolders not read: {', '.join(self.ignored_folders)}")
        return "\n".join(lines)


class NothingUsableError(DatasetError):
    """No file of the dataset gave a usable piece; carries the report of what was tried."""

    def __init__(self, message: str, report: PreprocessReport) -> None:
        super().__init__(message)
        self.report = report


def load_report(paths: ExperimentPaths) -> PreprocessReport:
    """The report of the last complete preprocessing run, after checking that its pieces are all on disk.

    Raises:
        IncompleteStepError: never run, interrupted, or its output was changed since.
    """
    if not paths.preprocess_report.is_file():
        raise IncompleteStepError(
            "The dataset is not preprocessed (or the last run was interrupted): run Step 2a first"
        )
    try:
        report = PreprocessReport.from_dict(json.loads(paths.preprocess_report.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise IncompleteStepError(
            f"The preprocessing report {paths.preprocess_report} is damaged: run Step 2a again"
        ) from e
    expected = {s for f in report.files for s in f.stems}
    for d in (paths.gt_wavs, paths.wavs16k):
        found = {p.stem for p in d.glob("*.wav")} if d.is_dir() else set()
        if found != expected:
            raise IncompleteStepError(
                f"{d.name}/ does not match the last preprocessing report ({len(found)} pieces on disk, "
                f"{len(expected)} expected): run Step 2a again"
            )
    return report
