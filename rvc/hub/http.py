"""HTTP downloads, the one way the app fetches a file: into a ``.part`` file that an interrupted run resumes
(``Range``), capped in size (a declared size over the cap is refused before a byte is read), hashed on the fly,
with progress in bytes and speed. The caller checks what came and commits the part where it belongs.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rvc.core.errors import DownloadError
from rvc.core.progress import Progress, ProgressFn

CHUNK = 1 << 20
TIMEOUT = (30.0, 120.0)  # connect, read (seconds)


@dataclass
class Fetched:
    """A complete download sitting in its ``.part`` file."""

    part: Path
    size: int
    sha256: str
    url: str  # after redirects
    headers: dict[str, str] = field(default_factory=dict)  # lower-case; the first response of the chain wins
    content_type: str = ""
    filename: str | None = None  # from Content-Disposition

    def head(self, n: int = 512) -> bytes:
        with open(self.part, "rb") as f:
            return f.read(n)


def _sha_of(part: Path) -> Any:
    h = hashlib.sha256()
    with open(part, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h


def _headers(r: Any) -> dict[str, str]:
    merged: dict[str, str] = {}
    for resp in [*r.history, r]:
        for k, v in resp.headers.items():
            merged.setdefault(k.lower(), v)
    return merged


def _declared_total(r: Any, have: int) -> int | None:
    if r.status_code == 206:
        m = re.search(r"/(\d+)\s*$", r.headers.get("content-range", ""))
        return int(m.group(1)) if m else None
    n = r.headers.get("content-length")
    return int(n) if n and n.isdigit() else None


def filename_of(disposition: str) -> str | None:
    """The file name a ``Content-Disposition`` header gives (``filename*=UTF-8''…`` or ``filename="…"``)."""
    from urllib.parse import unquote

    m = re.search(r"filename\*\s*=\s*[^']*''([^;]+)", disposition, re.I)
    if m:
        return unquote(m.group(1).strip().strip('"'))
    m = re.search(r'filename\s*=\s*"?([^";]+)"?', disposition, re.I)
    return m.group(1).strip() if m else None


def fetch(
    url: str,
    part: Path,
    max_bytes: int,
    expected_size: int | None = None,
    headers: dict[str, str] | None = None,
    on_progress: ProgressFn | None = None,
    label: str = "",
) -> Fetched:
    """Downloads ``url`` into ``part`` (resuming what is there) and returns what came.

    Raises:
        DownloadError: unreachable, an HTTP error status, a declared or actual size over ``max_bytes`` (the part
            is deleted), or the connection dropped before the declared size (the part is kept: call again to resume).
    """
    import httpx

    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have and expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    send = dict(headers or {})
    if have:
        send["Range"] = f"bytes={have}-"
    label = label or part.name.removesuffix(".part")
    try:
        with httpx.stream(
            "GET", url, headers=send, follow_redirects=True, timeout=httpx.Timeout(TIMEOUT[0], read=TIMEOUT[1])
        ) as r:
            if r.status_code == 416 and have and have == expected_size:
                return Fetched(part, have, _sha_of(part).hexdigest(), str(r.url), _headers(r))
            if r.status_code not in (200, 206) or (r.status_code == 206 and not have):
                raise DownloadError(f"HTTP {r.status_code} from {url}")
            resume = r.status_code == 206
            total = _declared_total(r, have)
            if total is not None and total > max_bytes:
                part.unlink(missing_ok=True)
                raise DownloadError(
                    f"{label} declares {total / 1e9:.2f} GB, more than the {max_bytes / 1e9:.2f} GB allowed; nothing kept"
                )
            h = _sha_of(part) if resume else hashlib.sha256()
            done = _stream(r, part, resume, h, have if resume else 0, total, max_bytes, label, on_progress)
            info = _headers(r)
            got = Fetched(part, done, h.hexdigest(), str(r.url), info, info.get("content-type", ""))
            got.filename = filename_of(info.get("content-disposition", ""))
    except httpx.HTTPError as e:
        kept = part.stat().st_size if part.exists() else 0
        why = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        resume_hint = f"; {kept / 1e6:.1f} MB kept, run again to resume" if kept else ""
        raise DownloadError(f"{label}: download from {url} failed ({why}){resume_hint}") from e
    if total is not None and got.size != total:
        raise DownloadError(
            f"{label}: the connection ended at {got.size / 1e6:.1f} of {total / 1e6:.1f} MB; run again to resume"
        )
    return got


def _stream(
    r: Any, part: Path, resume: bool, h: Any, done: int, total: int | None, max_bytes: int, label: str,
    on_progress: ProgressFn | None,
) -> int:  # fmt: skip
    t0, start, last = time.monotonic(), done, 0.0
    with open(part, "ab" if resume else "wb") as f:
        for block in r.iter_bytes():  # as received: a dropped connection keeps what arrived
            done += len(block)
            if done > max_bytes:
                f.close()
                part.unlink(missing_ok=True)
                raise DownloadError(f"{label} is larger than the {max_bytes / 1e9:.2f} GB allowed; nothing kept")
            f.write(block)
            h.update(block)
            now = time.monotonic()
            if on_progress is not None and (now - last > 0.2 or done == total):
                last = now
                speed = (done - start) / max(now - t0, 1e-6) / 1e6
                size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
                on_progress(Progress("download", done, total or 0, f"{label} ({size} at {speed:.1f} MB/s)"))
        f.flush()
        os.fsync(f.fileno())
    return done
