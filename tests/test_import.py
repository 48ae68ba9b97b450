"""Importing shared models from links: a local HTTP server plays Hugging Face (files, repositories and their API),
Google Drive (with its confirmation page for large files), direct links, and broken or hostile hosts."""

import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from rvc.core.errors import DownloadError, RvcError
from rvc.hub import links
from rvc.steps.import_link import ChoiceNeeded, ImportConfig, import_model
from tests.helpers import tiny_model

CONFIRM_PAGE = """<!DOCTYPE html><html><body>Google Drive can't scan this file for viruses.
<form id="download-form" action="{base}/download" method="get">
<input type="submit" value="Download anyway"/><input type="hidden" name="id" value="{id}">
<input type="hidden" name="export" value="download"><input type="hidden" name="confirm" value="t">
<input type="hidden" name="uuid" value="abc-123"></form></body></html>"""


class Host(http.server.BaseHTTPRequestHandler):
    """Files by path; ``/api/models/<repo>/tree/<rev>`` lists a repository; Drive's ``/download`` asks to confirm."""

    files: dict[str, bytes] = {}
    declared: dict[str, int] = {}  # a Content-Length that is not the body's
    cut: set[str] = set()  # the connection drops half way, once
    html: set[str] = set()
    ranges: list[str] = []
    redirects: dict[str, str] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path.startswith("/api/models/"):  # the hub's tree API: two entries a page, a Link header to the next
            repo, _, folder = path.removeprefix("/api/models/").partition("/tree/main")
            tree = [{"type": "file", "path": p.split("/resolve/main/", 1)[1], "size": len(b)}
                    for p, b in self.files.items() if p.startswith(f"/{repo}/resolve/main{folder}/")]  # fmt: skip
            if not tree:
                return self._send(b"{}", "application/json", 404)
            start = int(query.split("cursor=")[1]) if "cursor=" in query else 0
            self.send_response(200)
            if start + 2 < len(tree):
                self.send_header("Link", f'<{path}?recursive=true&cursor={start + 2}>; rel="next"')
            body = json.dumps(tree[start : start + 2]).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        if path in self.redirects:  # a redirect that calls itself a web page, as some hosts' do
            self.send_response(302)
            self.send_header("Location", self.redirects[path])
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if path == "/download":
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            if "confirm" not in params:
                base = f"http://127.0.0.1:{self.server.server_port}"
                return self._send(CONFIRM_PAGE.format(base=base, id=params["id"]).encode(), "text/html")
            path = f"/drive/{params['id']}"
        body = self.files.get(path)
        if body is None:
            return self._send(b"<html>not found</html>", "text/html", 404)
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
        if start:
            self.ranges.append(self.headers["Range"])
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "text/html" if path in self.html else "application/octet-stream")
        self.send_header("Content-Length", str(self.declared.get(path, len(body) - start)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if path.startswith("/drive/"):
            self.send_header("Content-Disposition", 'attachment; filename="shared voice.zip"')
        self.end_headers()
        if path in self.declared:
            return
        if path in self.cut:
            self.cut.discard(path)
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body[start:])

    def _send(self, body, ctype, code=200):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("m") / "voice.pth").read_bytes()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


@pytest.fixture
def host(monkeypatch, model_bytes):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HF_ENDPOINT", base)
    monkeypatch.setenv("RVC_DRIVE_ENDPOINT", base)
    for v in ("RVC_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(v, raising=False)
    index = b"IwFl" + bytes(200)
    Host.files = {
        "/alice/voice/resolve/main/voice.pth": model_bytes,
        "/alice/voice/resolve/main/added_IVF4_Flat_nprobe_1_voice_v2.index": index,
        "/alice/voice/resolve/main/README.md": b"# a voice",
        "/bob/many/resolve/main/a/one.pth": model_bytes,
        "/bob/many/resolve/main/b/two.pth": model_bytes,
        "/bob/many/resolve/main/b/two.index": index,
        "/drive/1AbCdEfGhIjKlMnOp": _zip({"Shared/voice.pth": model_bytes, "Shared/added_voice_v2.index": index}),
        "/files/direct.zip": _zip({"voice.pth": model_bytes}),
        "/files/page.pth": b"<!DOCTYPE html><html>log in</html>",
        "/files/big.zip": b"x",
        "/files/cut.pth": model_bytes,
        "/files/slip.zip": _zip({"../../escape.pth": model_bytes}),
        "/files/noext": model_bytes,
    }
    Host.declared, Host.cut, Host.html, Host.ranges = {"/files/big.zip": 10 * 10**9}, set(), {"/files/page.pth"}, []
    Host.redirects = {"/files/moved.zip": "/files/direct.zip", "/files/inside.zip": "http://127.0.0.1:1/secret.zip"}
    yield base
    server.shutdown()


def test_link_shapes():
    hf = links.parse_link("https://huggingface.co/alice/voice/blob/main/models/voice.pth?download=true")
    assert (hf.kind, hf.repo, hf.revision, hf.path) == ("hf-file", "alice/voice", "main", "models/voice.pth")
    assert links.parse_link("https://huggingface.co/alice/voice/tree/v2").revision == "v2"
    assert links.parse_link("https://huggingface.co/datasets/a/b").repo_kind == "datasets"
    for url in ("https://drive.google.com/file/d/1AbCdEfGhIjKlMnOp/view?usp=sharing",
                "https://drive.google.com/open?id=1AbCdEfGhIjKlMnOp", "https://drive.google.com/uc?id=1AbCdEfGhIjKlMnOp"):  # fmt: skip
        assert links.parse_link(url).drive_id == "1AbCdEfGhIjKlMnOp"
    assert links.parse_link("https://example.com/v.zip").kind == "direct"
    with pytest.raises(DownloadError, match="Drive folder"):
        links.parse_link("https://drive.google.com/drive/folders/xyz")
    with pytest.raises(DownloadError, match="neither a file here nor an http"):
        links.parse_link("voice.zip")


def test_hugging_face_repository_takes_its_model_and_index(host, tmp_path):
    seen = []
    got = import_model(f"{host}/alice/voice", tmp_path / "weights", on_progress=seen.append)
    assert got.model == tmp_path / "weights" / "voice.pth" and got.index.name.startswith("added_IVF4")
    assert got.card.version == "v2" and got.card.sample_rate == "40k"
    assert any("MB at" in p.message for p in seen)  # size and speed
    assert not list((tmp_path / "weights" / ".downloads").iterdir())


def test_hugging_face_file_link_and_a_name(host, tmp_path):
    got = import_model(f"{host}/alice/voice/blob/main/voice.pth", tmp_path / "w", ImportConfig(name="Alice"))
    assert got.model.name == "Alice.pth" and got.card.name == "Alice"


def test_repository_with_several_models_asks(host, tmp_path):
    with pytest.raises(ChoiceNeeded) as e:
        import_model(f"{host}/bob/many", tmp_path / "w")
    assert e.value.options == ["a/one.pth", "b/two.pth"] and not (tmp_path / "w" / "one.pth").exists()
    got = import_model(f"{host}/bob/many", tmp_path / "w", ImportConfig(file="two.pth"))
    assert got.model.name == "two.pth" and got.index.name == "two.index"


def test_google_drive_confirmation_page(host, tmp_path):
    got = import_model("https://drive.google.com/file/d/1AbCdEfGhIjKlMnOp/view?usp=sharing", tmp_path / "w")
    assert got.model.name == "voice.pth" and got.index.name == "added_voice_v2.index"


def direct(host: str) -> str:
    """The same server under another name, so its links are not taken for the hub's ($HF_ENDPOINT)."""
    return host.replace("127.0.0.1", "localhost")


def test_direct_links_and_a_file_without_extension(host, tmp_path):
    host = direct(host)
    assert import_model(f"{host}/files/direct.zip", tmp_path / "w").model.name == "voice.pth"
    assert import_model(f"{host}/files/noext", tmp_path / "w2").model.suffix == ".pth"


def test_broken_and_hostile_hosts(host, tmp_path):
    w, hub, host = tmp_path / "w", host, direct(host)
    with pytest.raises(DownloadError, match="gave a web page, not a file"):
        import_model(f"{host}/files/page.pth", w)
    with pytest.raises(DownloadError, match="declares 10.00 GB, more than the 4.00 GB allowed"):
        import_model(f"{host}/files/big.zip", w)
    with pytest.raises(RvcError, match="points outside the folder"):
        import_model(f"{host}/files/slip.zip", w)
    assert not (tmp_path / "escape.pth").exists() and not list(w.glob("*.pth"))
    with pytest.raises(DownloadError, match="no public repository nobody/none"):
        import_model(f"{hub}/nobody/none", w)


def test_interrupted_download_resumes(host, tmp_path, model_bytes):
    host = direct(host)
    Host.cut = {"/files/cut.pth"}
    with pytest.raises(DownloadError, match="run again to resume"):
        import_model(f"{host}/files/cut.pth", tmp_path / "w")
    got = import_model(f"{host}/files/cut.pth", tmp_path / "w")
    assert got.model.read_bytes() == model_bytes and len(Host.ranges) == 1


def test_unreachable_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RVC_OFFLINE", "1")
    with pytest.raises(DownloadError, match="downloads are off .* yourself and import the file"):
        import_model("https://huggingface.co/alice/voice", tmp_path / "w")
    monkeypatch.delenv("RVC_OFFLINE")
    with pytest.raises(DownloadError) as e:
        import_model("http://127.0.0.1:9/voice.zip", tmp_path / "w")
    assert "download from http://127.0.0.1:9/voice.zip failed" in str(e.value) and "\n" not in str(e.value)


def test_cli_import_json(host, tmp_path):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "rvc", "import", f"{host}/alice/voice", "--weights-dir", str(tmp_path / "w"), "--json"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "HF_ENDPOINT": host},
    )  # fmt: skip  (the fixture lifted RVC_OFFLINE from the environment the command inherits)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert Path(out["model"]).name == "voice.pth" and out["card"]["version"] == "v2"
    r = subprocess.run([sys.executable, "-m", "rvc", "import", f"{host}/bob/many", "--weights-dir", str(tmp_path)],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)  # fmt: skip
    assert r.returncode != 0 and "holds 2 models: pick one" in r.stderr and "Traceback" not in r.stderr


def test_zip_bombs_and_links_are_refused(tmp_path, model_bytes):
    from rvc.models.package import import_package

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("voice.pth", model_bytes)
        z.writestr("added_voice_v2.index", bytes(50 * 2**20))  # 50 MB of zeros pack about 1000:1
    with pytest.raises(RvcError, match="zip bomb: 'added_voice_v2.index' unpacks"):
        import_package(bomb, tmp_path / "w")
    link = zipfile.ZipInfo("voice.pth")
    link.external_attr = 0o120777 << 16  # a symbolic link entry
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as z:
        z.writestr(link, "/etc/passwd")
    with pytest.raises(RvcError, match="holds a symbolic link"):
        import_package(tmp_path / "link.zip", tmp_path / "w")
    huge = tmp_path / "huge.zip"
    with zipfile.ZipFile(huge, "w") as z:
        z.writestr("voice.pth", model_bytes)
    data = bytearray(huge.read_bytes())  # declare 9 GB in the central directory
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (9 * 10**9 // 4).to_bytes(4, "little")
    huge.write_bytes(bytes(data))
    with pytest.raises(RvcError, match="zip bomb|unpacks to"):
        import_package(huge, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_a_folder_of_a_repository_and_a_long_file_list(host, tmp_path):
    got = import_model(f"{host}/bob/many/tree/main/b", tmp_path / "w")  # b/ holds one model: no question
    assert got.model.name == "two.pth" and got.index.name == "two.index"
    assert links.hf_files(links.parse_link(f"{host}/alice/voice")) == [  # three files over two pages
        (p.split("/resolve/main/")[1], len(b)) for p, b in Host.files.items() if p.startswith("/alice/voice/")
    ]


def test_redirects_are_followed_and_checked(host, tmp_path, monkeypatch):
    assert import_model(f"{direct(host)}/files/moved.zip", tmp_path / "w").model.name == "voice.pth"
    # an app others reach: the guard sees every hop, so a public link cannot redirect into the server's network
    seen, real = [], links.refuse_private

    def guard(url):
        seen.append(url)
        if "127.0.0.1:1/" in url:
            raise DownloadError("127.0.0.1 is a local or private address: this app only fetches public links")

    monkeypatch.setattr(links, "refuse_private", guard)
    with pytest.raises(DownloadError, match="local or private address"):
        import_model(f"{direct(host)}/files/inside.zip", tmp_path / "w2", ImportConfig(public_only=True))
    assert seen[-1] == "http://127.0.0.1:1/secret.zip" and not [f for f in (tmp_path / "w2").rglob("*") if f.is_file()]
    with pytest.raises(DownloadError, match="local or private address"):  # the real check
        real("http://10.0.0.8/x.zip")
    with pytest.raises(DownloadError, match="local or private address"):
        real("http://100.64.1.2/x.zip")  # shared address space (not is_private)


def test_drive_download_resumes(host, tmp_path):
    Host.cut = {"/drive/1AbCdEfGhIjKlMnOp"}
    url = "https://drive.google.com/open?id=1AbCdEfGhIjKlMnOp"
    with pytest.raises(DownloadError, match="run again to resume"):
        import_model(url, tmp_path / "w")
    assert import_model(url, tmp_path / "w").model.name == "voice.pth" and len(Host.ranges) == 1


def test_a_name_never_moves_a_model_already_there(host, tmp_path):
    first = import_model(f"{host}/alice/voice", tmp_path / "w")
    again = import_model(f"{host}/alice/voice", tmp_path / "w", ImportConfig(name="bob"))
    assert first.model.is_file() and again.model == tmp_path / "w" / "bob.pth" and again.index.name == "bob.index"
    assert again.card.name == "bob" and first.index.is_file()
