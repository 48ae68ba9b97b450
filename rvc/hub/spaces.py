"""Running on a Hugging Face Space: detection from the environment the platform sets, where data can persist,
how many jobs to allow, and what to tell CPU-only users. Nothing here touches the network."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpaceInfo:
    space_id: str
    accelerator: str  # "none" on CPU hardware, else e.g. "t4-medium"
    cpu_cores: int
    data_dir: Path | None  # a mounted, writable storage bucket (persists across restarts), if any

    @property
    def has_gpu(self) -> bool:
        return self.accelerator not in ("", "none")

    @property
    def logs_dir(self) -> Path:
        return (self.data_dir or Path(".")) / "logs"

    @property
    def concurrency(self) -> int:
        """Events served at once (conversion and other requests; heavy jobs still run one at a time)."""
        return 1 if not self.has_gpu else 2

    def notice(self) -> str:
        lines = [f"Running on the Hugging Face Space **{self.space_id}**."]
        if self.data_dir is None:
            lines.append(
                "This Space has no storage bucket mounted: experiments and models are lost when it restarts. "
                "Download your model zip when training ends, or mount a bucket and set RVC_DATA_DIR."
            )
        else:
            lines.append(f"Experiments are kept in `{self.data_dir}` (a mounted storage bucket).")
        if not self.has_gpu:
            lines.append(
                f"**This Space has no GPU** ({self.cpu_cores} CPU cores): converting works, but training a real "
                "model takes hours per epoch of a 10-minute dataset (about 12 s per step at batch 4 on 2 cores). "
                "Duplicate the Space on GPU hardware, or train locally, then import the model zip here."
            )
        return "\n\n".join(lines)


def detect_space(env: dict[str, str] | None = None) -> SpaceInfo | None:
    """A :class:`SpaceInfo` when the platform's variables say this runs on a Space (``SYSTEM=spaces`` or
    ``SPACE_ID``), else None. ``RVC_DATA_DIR`` (or a writable ``/data``) is where data persists."""
    env = dict(os.environ if env is None else env)
    if env.get("SYSTEM") != "spaces" and not env.get("SPACE_ID"):
        return None
    data = env.get("RVC_DATA_DIR")
    data_dir = Path(data) if data else None
    if data_dir is None and Path("/data").is_dir() and os.access("/data", os.W_OK):
        data_dir = Path("/data")
    try:
        cores = int(env.get("CPU_CORES") or os.cpu_count() or 1)
    except ValueError:
        cores = os.cpu_count() or 1
    return SpaceInfo(env.get("SPACE_ID", "unknown"), env.get("ACCELERATOR", "none").lower(), cores, data_dir)
