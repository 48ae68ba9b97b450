"""Links to shared models: what a Hugging Face, Google Drive or direct link points at, and how to fetch it.

- Hugging Face: a file (``/<repo>/resolve/<rev>/<path>`` or ``/blob/…``) or a repository (``/<repo>``,
  ``/<repo>/tree/<rev>``), models, ``datasets/`` and ``spaces/``; a repository's files are listed by the hub's API.
- Google Drive: ``/file/d/<id>/…``, ``open?id=<id>``, ``uc?id=<id>``; a large file first answers with a page
  asking to confirm (no virus scan), whose form is followed.
- Any other ``http(s)`` URL: the file itself.

``$HF_ENDPOINT`` and ``$RVC_DRIVE_ENDPOINT`` point at mirrors (and at the tests' local servers).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlparse

from rvc.core.errors import DownloadError
from rvc.core.progress import ProgressFn
from rvc.hub.http import Fetched, Guard, fetch

HF_HOSTS = ("huggingface.co", "hf.co", "www.huggingface.co")
DRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")
KINDS = ("models", "datasets", "spaces")


@dataclass(frozen=True)
class Link:
    kind: str  # "hf-file", "hf-repo", "drive", "direct"
    url: str  # as given
    repo: str = ""  # hf: owner/name (datasets/spaces prefixed by their kind in ``repo_path``)
    repo_kind: str = "models"
    revision: str = "main"
    path: str = ""  # hf-file: the file in the repository; hf-repo: the folder the link shows ("" for all)
    drive_id: str = ""

    @property
    def name(self) -> str:
        """The file name the link shows, when it shows one."""
        if self.kind == "hf-repo":
            return ""
        last = (self.path or urlparse(self.url).path).rstrip("/").rsplit("/", 1)[-1]
        return last if "." in last else ""


def hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def drive_endpoint() -> str:
    return os.environ.get("RVC_DRIVE_ENDPOINT", "https://drive.usercontent.google.com").rstrip("/")


def parse_link(url: str) -> Link:
    """What ``url`` points at.

    Raises:
        DownloadError: not an http(s) URL, or a Hugging Face / Drive link of a shape that names no file or repo.
    """
    url = url.strip()
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise DownloadError(f"{url!r} is neither a file here nor an http(s) link")
    host = u.netloc.lower().split(":")[0]
    if host in HF_HOSTS or (os.environ.get("HF_ENDPOINT") and url.startswith(hf_endpoint() + "/")):
        return _hf_link(url, u.path)
    if host in DRIVE_HOSTS or (os.environ.get("RVC_DRIVE_ENDPOINT") and url.startswith(drive_endpoint() + "/")):
        return _drive_link(url, u.path, parse_qs(u.query))
    return Link("direct", url)


def _hf_link(url: str, path: str) -> Link:
    parts = [p for p in path.split("/") if p]
    repo_kind = "models"
    if parts and parts[0] in ("datasets", "spaces"):
        repo_kind, parts = parts[0], parts[1:]
    if len(parts) < 2:
        raise DownloadError(f"{url} names no Hugging Face repository (expected huggingface.co/<owner>/<name>)")
    repo = "/".join(parts[:2])
    rest = parts[2:]
    if not rest:
        return Link("hf-repo", url, repo, repo_kind)
    if rest[0] == "tree" and len(rest) >= 2:  # a folder of the repository: its files only
        return Link("hf-repo", url, repo, repo_kind, rest[1], "/".join(rest[2:]))
    if rest[0] in ("resolve", "blob", "raw") and len(rest) >= 3:
        return Link("hf-file", url, repo, repo_kind, rest[1], "/".join(rest[2:]))
    raise DownloadError(f"{url} is a Hugging Face page that is neither a file nor a repository")


def _drive_link(url: str, path: str, query: dict[str, list[str]]) -> Link:
    m = re.search(r"/(?:file/)?d/([A-Za-z0-9_-]{10,})", path)
    file_id = m.group(1) if m else (query.get("id") or [""])[0]
    if not re.fullmatch(r"[A-Za-z0-9_-]{10,}", file_id or ""):
        if "/folders/" in path:
            raise DownloadError(f"{url} is a Drive folder: share the model's .zip (or .pth) file's own link")
        raise DownloadError(f"{url} names no Google Drive file (expected drive.google.com/file/d/<id>/…)")
    return Link("drive", url, drive_id=file_id)


def refuse_private(url: str) -> None:
    """Refuses a link to this machine or its private network (an app others reach must not fetch those for them);
    given to the downloads as their guard, it checks every redirect too.

    Raises:
        DownloadError: the host is loopback, private, link-local or reserved, or does not resolve.
    """
    import ipaddress
    import socket

    host = urlparse(url.strip()).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as e:
        raise DownloadError(f"cannot resolve the host of {url} ({e.strerror or type(e).__name__})") from e
    for a in addresses:
        ip = ipaddress.ip_address(str(a).split("%")[0])
        if not ip.is_global or ip.is_multicast:  # loopback, private, link-local, shared (CGNAT), reserved
            raise DownloadError(f"{host} is a local or private address: this app only fetches public links")


def resolve_url(link: Link, path: str | None = None) -> str:
    """The download URL of a Hugging Face file (``path`` in a repository link), or of a direct link."""
    if link.kind in ("hf-file", "hf-repo"):
        prefix = "" if link.repo_kind == "models" else f"{link.repo_kind}/"
        file = path or link.path
        return f"{hf_endpoint()}/{prefix}{link.repo}/resolve/{quote(link.revision)}/{quote(file)}"
    return link.url


def hf_files(link: Link, guard: Guard | None = None) -> list[tuple[str, int | None]]:
    """Every file of a Hugging Face repository link (under the folder it shows): (path, size), from the hub's API,
    page by page.

    Raises:
        DownloadError: unreachable, no such repository (or private), or an answer that is not a file list.
    """
    import httpx

    prefix = f"/{quote(link.path)}" if link.path else ""
    url: str | None = (
        f"{hf_endpoint()}/api/{link.repo_kind}/{link.repo}/tree/{quote(link.revision)}{prefix}?recursive=true"
    )
    files: list[tuple[str, int | None]] = []
    while url:
        if guard:
            guard(url)
        try:
            r = httpx.get(url, headers=_hf_headers(), timeout=30.0)
        except httpx.HTTPError as e:
            raise DownloadError(f"cannot reach {hf_endpoint()} to list {link.repo} ({type(e).__name__})") from e
        if r.status_code in (401, 403, 404):
            raise DownloadError(f"Hugging Face has no public repository {link.repo} (revision {link.revision})")
        try:
            entries = r.json() if r.status_code == 200 else None
        except ValueError:
            entries = None
        if not isinstance(entries, list):
            raise DownloadError(f"the file list of {link.repo} is unreadable (HTTP {r.status_code})")
        files += [
            (str(e["path"]), e.get("size") if isinstance(e.get("size"), int) else None)
            for e in entries
            if isinstance(e, dict) and e.get("type") == "file" and isinstance(e.get("path"), str)
        ]
        nxt = r.links.get("next", {}).get("url")
        url = urljoin(url, nxt) if nxt else None
    return files


def _hf_headers() -> dict[str, str]:
    token = os.environ.get("HF_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def part_for(folder: Path, url: str) -> Path:
    """Where the download of ``url`` waits until it is complete: the same place each time, so a rerun resumes."""
    return folder / f"{hashlib.sha1(url.encode()).hexdigest()[:16]}.part"


def download(
    link: Link, folder: Path, max_bytes: int, on_progress: ProgressFn | None = None, path: str | None = None,
    guard: Guard | None = None,
) -> Fetched:  # fmt: skip
    """Fetches the file a link (or the file ``path`` of a repository link) points at into ``folder``.

    Raises:
        DownloadError: as :func:`rvc.hub.http.fetch`, or a web page came instead of the file (not shared
            publicly, quota exceeded, a link to a page).
    """
    if link.kind == "drive":
        return _drive_download(link, folder, max_bytes, on_progress, guard)
    url = resolve_url(link, path)
    headers = _hf_headers() if link.kind.startswith("hf") else None
    label = Path(path or link.name or "download").name
    got = fetch(url, part_for(folder, url), max_bytes, None, headers, on_progress, label, guard)
    if is_html(got):
        got.part.unlink(missing_ok=True)
        raise DownloadError(f"{url} gave a web page, not a file: link the file itself (its download link)")
    return got


def is_html(got: Fetched) -> bool:
    head = got.head(512).lstrip().lower()
    return "text/html" in got.content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def _drive_download(
    link: Link, folder: Path, max_bytes: int, on_progress: ProgressFn | None, guard: Guard | None
) -> Fetched:
    """Drive answers a large file with a page to confirm; the file itself then goes to a part named after the
    file's id (the confirmation URL changes each time), so an interrupted download resumes."""
    url = f"{drive_endpoint()}/download?{urlencode({'id': link.drive_id, 'export': 'download'})}"
    label = f"Drive file {link.drive_id}"
    first = part_for(folder, url + "#page")
    first.unlink(missing_ok=True)
    got = fetch(url, first, max_bytes, None, None, on_progress, label, guard)
    for _ in range(3):  # the file, or a confirmation page whose form leads to it
        if not is_html(got):
            return got
        page = got.part.read_text(errors="replace")[:1_000_000]
        got.part.unlink(missing_ok=True)
        nxt = confirm_url(page, url)
        if nxt is None:
            raise DownloadError(
                "Google Drive gave a web page instead of the file: share it as 'Anyone with the link', or its "
                "download quota is used up for today (try later or another host)"
            )
        got = fetch(nxt, part_for(folder, f"drive:{link.drive_id}"), max_bytes, None, None, on_progress, label, guard)
    raise DownloadError(
        "Google Drive kept asking to confirm the download; download it in a browser and import the file"
    )


def confirm_url(page: str, base: str) -> str | None:
    """The URL a Drive "can't scan this file for viruses" page confirms the download with: its download form's
    action and hidden fields, or an older page's ``confirm=`` link."""
    form = re.search(r"<form[^>]*id=\"download-form\"[^>]*>(.*?)</form>", page, re.S | re.I)
    if form:
        action = re.search(r"action=\"([^\"]+)\"", form.group(0))
        fields: dict[str, Any] = {}
        for tag in re.findall(r"<input[^>]*>", form.group(1), re.I):
            name, value = re.search(r"name=\"([^\"]*)\"", tag), re.search(r"value=\"([^\"]*)\"", tag)
            if name and re.search(r"type=\"hidden\"", tag, re.I):
                fields[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
        if action and fields:
            target = html.unescape(action.group(1))
            if not target.startswith("http"):
                target = drive_endpoint() + "/" + target.lstrip("/")
            return f"{target}?{urlencode(fields)}"
    m = re.search(r"confirm=([0-9A-Za-z_-]+)", page)
    if m:
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}confirm={m.group(1)}"
    return None
