"""HTTP downloads, the one way the app fetches a file: into a ``.part`` file that an interrupted run resumes
(``Range``), capped in size (a declared size over the cap is refused before a byte is read), hashed on the fly,
with progress in bytes and speed. The caller checks what came and commits the part where it belongs.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rvc.core.errors import DownloadError
from rvc.core.files import file_hash
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


FINAL = ("content-type", "content-disposition", "content-length", "content-range")  # of the file's own response


def _headers(r: Any) -> dict[str, str]:
    """Lower-case headers: those describing the body from the final response, the rest (the hub's commit and
    hashes, sent on its redirect) first response first."""
    merged = {k.lower(): v for k, v in r.headers.items() if k.lower() in FINAL}
    for resp in [*r.history, r]:
        for k, v in resp.headers.items():
            if k.lower() not in FINAL:
                merged.setdefault(k.lower(), v)
    return merged


def _range_start(r: Any) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-", r.headers.get("content-range", ""))
    return int(m.group(1)) if m else None


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


Guard = Callable[[str], None]  # raises DownloadError for a URL that must not be fetched (each redirect too)


def fetch(
    url: str,
    part: Path,
    max_bytes: int,
    expected_size: int | None = None,
    headers: dict[str, str] | None = None,
    on_progress: ProgressFn | None = None,
    label: str = "",
    guard: Guard | None = None,
) -> Fetched:
    """Downloads ``url`` into ``part`` (resuming what is there) and returns what came.

    Raises:
        DownloadError: unreachable, an HTTP error status, a declared or actual size over ``max_bytes`` (the part
            is deleted), the connection dropped before the declared size (the part is kept: call again to resume),
            a URL ``guard`` refuses (the link's or a redirect's), or the part cannot be written.
    """
    label = label or part.name.removesuffix(".part")
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
        got = _fetch(url, part, max_bytes, expected_size, headers, on_progress, label, guard)
        if got is None:  # the server refused the resume (416): the part is gone, start over once
            got = _fetch(url, part, max_bytes, expected_size, headers, on_progress, label, guard)
    except OSError as e:
        raise DownloadError(f"{label}: cannot write {part} ({e.strerror or type(e).__name__})") from e
    if got is None:
        raise DownloadError(f"HTTP 416 from {url}: the server refuses the range it was asked for")
    return got


def _fetch(
    url: str, part: Path, max_bytes: int, expected_size: int | None, headers: dict[str, str] | None,
    on_progress: ProgressFn | None, label: str, guard: Guard | None,
) -> Fetched | None:  # fmt: skip
    import httpx

    have = part.stat().st_size if part.exists() else 0
    if have and expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    # identity: the bytes counted and resumed are the file's own, not a compressed transfer of them
    send = {"Accept-Encoding": "identity", **(headers or {})}
    if have:
        send["Range"] = f"bytes={have}-"
    hooks = {"request": [lambda request: guard(str(request.url))]} if guard else {}
    timeout = httpx.Timeout(TIMEOUT[0], read=TIMEOUT[1])
    try:
        with httpx.Client(follow_redirects=True, timeout=timeout, event_hooks=hooks) as client:
            with client.stream("GET", url, headers=send) as r:
                if r.status_code == 416 and have:
                    if have == expected_size:
                        return Fetched(part, have, file_hash(part).hexdigest(), str(r.url), _headers(r))
                    part.unlink(missing_ok=True)
                    return None
                if r.status_code not in (200, 206) or (r.status_code == 206 and not have):
                    raise DownloadError(f"HTTP {r.status_code} from {url}")
                resume = r.status_code == 206 and _range_start(r) == have  # else: the whole file again
                if r.status_code == 206 and not resume:
                    part.unlink(missing_ok=True)
                    return None
                return _receive(r, part, resume, have, max_bytes, label, on_progress)
    except httpx.HTTPError as e:
        kept = part.stat().st_size if part.exists() else 0
        why = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        resume_hint = f"; {kept / 1e6:.1f} MB kept, run again to resume" if kept else ""
        raise DownloadError(f"{label}: download from {url} failed ({why}){resume_hint}") from e


def _receive(
    r: Any, part: Path, resume: bool, have: int, max_bytes: int, label: str, on_progress: ProgressFn | None
) -> Fetched:
    total = _declared_total(r, have)
    if total is not None and total > max_bytes:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{label} declares {total / 1e9:.2f} GB, more than the {max_bytes / 1e9:.2f} GB allowed; nothing kept"
        )
    h = file_hash(part) if resume else hashlib.sha256()
    done = _stream(r, part, resume, h, have if resume else 0, total, max_bytes, label, on_progress)
    info = _headers(r)
    got = Fetched(part, done, h.hexdigest(), str(r.url), info, info.get("content-type", ""))
    got.filename = filename_of(info.get("content-disposition", ""))
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
