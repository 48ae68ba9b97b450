"""The weights manager against a local HTTP server standing in for the hub: good, corrupt, partial, resumed."""

import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest

from rvc.hub import weights as W

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    truncate_once: set[str] = set()
    ranges: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.split("/resolve/main/", 1)[-1]
        body = self.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng:
            self.ranges.append(rng)
            start = int(rng.split("=")[1].split("-")[0])
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if name in self.truncate_once:  # the connection drops half way
            self.truncate_once.discard(name)
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body[start:])


@pytest.fixture
def hub(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Handler.files = {"good.bin": DATA, "bad.bin": DATA[:-1] + b"\x00", "cut.bin": DATA}
    Handler.truncate_once, Handler.ranges = set(), []
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    for v in W.OFFLINE_ENVS:
        monkeypatch.delenv(v, raising=False)
    reg = {
        name: (name, (W.WeightFile(f"sub/{name}.bin", len(DATA), SHA, f"{name}.bin"),))
        for name in ("good", "bad", "cut")
    }
    monkeypatch.setattr(W, "registry", lambda: reg)
    yield server
    server.shutdown()


def test_download_verifies_and_places_atomically(hub, tmp_path):
    seen = []
    path = W.ensure("good", tmp_path, on_progress=seen.append)
    assert path == tmp_path / "sub" / "good.bin" and path.read_bytes() == DATA
    assert {p.stage for p in seen} == {"download"} and seen[-1].done == seen[-1].total == len(DATA)
    assert seen[-1].message.startswith("good.bin")
    assert not list((tmp_path / "sub").glob("*.part"))
    assert W.ensure("good", tmp_path) == path  # second call: verified from the cache, no download
    assert W.status(tmp_path)["good"]


def test_corrupt_download_is_refused_and_nothing_kept(hub, tmp_path):
    with pytest.raises(W.ChecksumError, match="download of bad.bin .* is corrupt"):
        W.ensure("bad", tmp_path)
    assert not (tmp_path / "sub" / "bad.bin").exists() and not list((tmp_path / "sub").glob("*.part"))


def test_partial_download_resumes(hub, tmp_path):
    Handler.truncate_once = {"cut.bin"}
    with pytest.raises(W.WeightsError, match="cut.bin .* could not be downloaded"):
        W.ensure("cut", tmp_path)
    part = tmp_path / "sub" / "cut.bin.part"
    assert 0 < part.stat().st_size < len(DATA)
    have = part.stat().st_size
    path = W.ensure("cut", tmp_path)
    assert path.read_bytes() == DATA
    assert Handler.ranges == [f"bytes={have}-"]


def test_corrupt_file_on_disk_names_the_file(hub, tmp_path):
    dest = tmp_path / "sub" / "good.bin"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(DATA[:-1] + b"!")
    with pytest.raises(W.ChecksumError, match=f"{dest} is corrupt: SHA-256 .* expected {SHA}"):
        W.ensure("good", tmp_path)
    dest.write_bytes(DATA[:1000])
    with pytest.raises(W.ChecksumError, match="damaged or incomplete: 1,000 bytes"):
        W.ensure("good", tmp_path)


def test_offline_says_where_to_get_it(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("RVC_OFFLINE", "1")
    with pytest.raises(W.WeightsError) as e:
        W.ensure("good", tmp_path)
    msg = str(e.value)
    assert "downloads are off" in msg and "/resolve/main/good.bin" in msg
    assert str((tmp_path / "sub" / "good.bin").resolve()) in msg and SHA in msg


def test_unreachable_hub(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(W.WeightsError, match=r"could not be downloaded .*save it as"):
        W.ensure("good", tmp_path)


def test_registry_covers_every_published_file():
    reg = W.registry()
    for version in ("v1", "v2"):
        for sr in ("32k", "40k", "48k"):
            for f0 in ("f0", ""):
                for gd in ("G", "D"):
                    name = W.pretrained_name(f"{f0}{gd}{sr}.pth", version)
                    (wf,) = reg[name][1]
                    assert wf.local == f"{'pretrained' if version == 'v1' else 'pretrained_v2'}/{f0}{gd}{sr}.pth"
    assert [wf.local for wf in reg["hubert_base"][1]][-1] == "hubert_base/pytorch_model.bin"
    assert reg["rmvpe"][1][0].size == 181184272
    files = {wf.local: wf for _, fs in reg.values() for wf in fs}  # contentvec and hubert_base share theirs
    shas = [wf.sha256 for wf in files.values() if wf.sha256]
    assert all(len(s) == 64 for s in shas) and len(set(shas)) == len(shas)
    assert reg["contentvec"][1] == reg["hubert_base"][1]
    assert W.registry()["rmvpe"][1][0].url.endswith("/lj1995/VoiceConversionWebUI/resolve/main/rmvpe.pt")


def test_unknown_name():
    with pytest.raises(W.WeightsError, match="unknown weights"):
        W.ensure("nope", Path("/tmp"))


EMBEDDERS = ("contentvec", "spin", "spin-v2", "chinese-hubert-base", "japanese-hubert-base", "korean-hubert-base")


def test_named_embedders_in_the_registry():
    reg = W.registry()
    for name in EMBEDDERS:
        files = reg[name][1]
        assert [Path(wf.local).name for wf in files][-1] == "pytorch_model.bin"
        assert any(Path(wf.local).name == "config.json" for wf in files)
        for wf in files:
            if name == "contentvec":  # RVC's hubert_base: published sizes and digests
                assert wf.size and wf.sha256 and wf.revision == "main"
            else:  # Applio's conversions: no published digest, so the first download pins the commit
                assert wf.repo == "IAHispano/Applio" and wf.revision is None and wf.size is None
                assert wf.source.startswith("Resources/embedders/") and wf.local.startswith(f"embedders/{name}/")
                assert wf.url.startswith("https://huggingface.co/IAHispano/Applio/resolve/main/Resources/embedders/")
    assert "published size and SHA-256" in W.provenance("contentvec")
    assert "pins the IAHispano/Applio commit" in W.provenance("spin-v2", Path("/nonexistent"))


class PinningHub(http.server.BaseHTTPRequestHandler):
    """A hub that names its commit and sends the LFS SHA-256 (X-Linked-Etag) or git blob id (ETag) of each file."""

    files: dict[str, bytes] = {}
    lie: set[str] = set()
    paths: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.paths.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Repo-Commit", "c" * 40)
        if name.endswith(".bin"):
            digest = hashlib.sha256(body if name not in self.lie else b"other").hexdigest()
            self.send_header("X-Linked-Etag", f'"{digest}"')
        else:
            self.send_header("ETag", f'"{hashlib.sha1(b"blob %d" % len(body) + bytes(1) + body).hexdigest()}"')
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def pinning_hub(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PinningHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    PinningHub.files = {"config.json": b'{"a": 1}', "pytorch_model.bin": DATA}
    PinningHub.lie, PinningHub.paths = set(), []
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    for v in W.OFFLINE_ENVS:
        monkeypatch.delenv(v, raising=False)
    reg = W.registry()
    monkeypatch.setattr(W, "registry", lambda: {"spin": reg["spin"], "spin-v2": reg["spin-v2"]})
    yield server
    server.shutdown()


def test_unpublished_embedder_is_checked_against_the_hub_and_pinned(pinning_hub, tmp_path):
    path = W.ensure("spin", tmp_path)
    assert path == tmp_path / "embedders" / "spin" and (path / "pytorch_model.bin").read_bytes() == DATA
    # the first file pins the commit the hub names; the entry's next file already comes from it
    assert "/resolve/main/" in PinningHub.paths[0] and f"/resolve/{'c' * 40}/" in PinningHub.paths[1]
    assert "pinned to IAHispano/Applio@cccccccccccc" in W.provenance("spin", tmp_path)
    W.ensure("spin-v2", tmp_path)  # another entry pins its own commit the same way
    assert "/resolve/main/" in PinningHub.paths[2] and f"/resolve/{'c' * 40}/" in PinningHub.paths[3]
    (path / "pytorch_model.bin").write_bytes(DATA[:-1] + b"!")  # changed on disk: the pin catches it
    with pytest.raises(W.ChecksumError, match="is corrupt: SHA-256"):
        W.ensure("spin", tmp_path)


def test_unpublished_embedder_that_differs_from_the_hubs_hash_is_refused(pinning_hub, tmp_path):
    PinningHub.lie = {"pytorch_model.bin"}
    with pytest.raises(W.ChecksumError, match="not the file the hub describes"):
        W.ensure("spin", tmp_path)
    assert not (tmp_path / "embedders" / "spin" / "pytorch_model.bin").exists()
    assert not list((tmp_path / "embedders" / "spin").glob("*.part"))
