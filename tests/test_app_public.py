"""The app as others reach it (shared link, Space, non-local host): file access, server paths, start-up on a
Space without network or weights, share without a tunnel; the job runner and its records; the translations."""

import ast
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client  # noqa: E402

import app  # noqa: E402
from rvc.hub.spaces import detect_space  # noqa: E402
from rvc.jobs.registry import JobRegistry  # noqa: E402
from rvc.ui.i18n import PT, tr  # noqa: E402
from tests.test_app import free_port, launch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_shared_app_serves_only_experiments_and_models(tmp_path):
    logs = tmp_path / "logs"
    settings = app.AppSettings(logs_dir=logs, allow_server_paths=False)
    demo, url = launch(settings)
    try:
        (logs / "voice").mkdir(parents=True)
        piece = logs / "voice" / "piece.wav"
        piece.write_bytes(b"RIFF")
        secret = tmp_path.parent / f"secret-{tmp_path.name}.txt"
        secret.write_text("password")
        (logs / "voice" / "link.txt").symlink_to(secret)
        record = next((logs / ".jobs").glob("*.json"), None) or (logs / ".jobs" / "x.json")
        record.write_text("{}")
        base = f"{url.rstrip('/')}/gradio_api/file="
        assert status_of(base + str(piece)) == 200
        for attempt in (
            str(secret),  # an absolute path outside
            f"{logs}/../../{secret.name}",  # traversal
            str(logs / "voice" / "link.txt"),  # a symlink out of the logs folder
            str(record),  # the job records
            "/etc/passwd",
        ):
            assert status_of(base + attempt) in (403, 404), attempt
        client = Client(url, analytics_enabled=False, verbose=False)
        client.predict("voice", "40k", True, "v2", api_name="/create_experiment")
        with pytest.raises(Exception, match="not in the list of choices"):
            client.predict("voice", app.SERVER_FOLDER, "/etc", None, None, "3.7", 1, api_name="/preprocess")
        with pytest.raises(Exception, match="not in the list of choices"):  # the embedder: names only
            client.predict("voice", "pm", "cpu", "/etc", api_name="/extract")
        with pytest.raises(Exception, match="local or private address: this app only fetches public links"):
            client.predict(None, "http://127.0.0.1:9/voice.zip", None, api_name="/import_model")
        with pytest.raises(Exception, match="not in the list of choices|Only the models and indexes listed"):
            client.predict(
                str(secret), "", None, 0, "pm", 0.75, 3, 0.25, 0.33, 0, "wav", "cpu", "", api_name="/convert"
            )
    finally:
        demo.close()


def _start(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False", **env}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, port


def _wait_served(proc: subprocess.Popen, port: int, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited: {proc.stdout.read()}")
        try:
            if status_of(f"http://127.0.0.1:{port}/") == 200:
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    raise AssertionError("the app did not serve its page in time")


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_space_mode_starts_without_network_or_weights(tmp_path):
    env = {
        "SYSTEM": "spaces", "SPACE_ID": "someone/rvc-studio", "ACCELERATOR": "none", "CPU_CORES": "2",
        "RVC_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "RVC_OFFLINE": "1",
        "RVC_PRETRAINED_DIR": str(tmp_path / "no-weights"), "GRADIO_SERVER_NAME": "127.0.0.1",
    }  # fmt: skip
    proc, port = _start([], env, tmp_path)
    try:
        _wait_served(proc, port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10) as r:
            config = r.read().decode()
        assert "someone/rvc-studio" in config and "has no GPU" in config
        assert "Folder on the server" not in json.dumps(  # a Space is public: no server paths
            [c for c in json.loads(config)["components"] if c.get("props", {}).get("elem_id") == "pp-source"]
        )
        assert (tmp_path / "data" / "logs").is_dir()
    finally:
        _stop(proc)
    info = detect_space({"SYSTEM": "spaces", "SPACE_ID": "a/b", "ACCELERATOR": "t4-small"})
    assert info.has_gpu and info.concurrency == 2 and detect_space({}) is None


def test_share_without_a_tunnel_keeps_serving_and_warns(tmp_path):
    proc, port = _start(["--share", "--logs-dir", str(tmp_path / "logs")], {"RVC_OFFLINE": "1"}, tmp_path)
    try:
        _wait_served(proc, port)
        time.sleep(1.0)
    finally:
        out = _stop(proc)
    assert "OPEN TO ANYONE" in out  # shared without --auth
    assert "No public link: the share server could not be reached" in out


def test_jobs_queue_one_heavy_job_and_records_survive_a_restart(tmp_path):
    jobs = JobRegistry(tmp_path / "jobs")
    release = threading.Event()

    def slow(job):
        job.update(0.5, "halfway")
        release.wait(20)
        return "finished"

    first = jobs.start("a", "train", slow, {"name": "a"})
    second = jobs.start("b", "index", lambda job: "indexed", {"name": "b"})
    time.sleep(1.0)
    assert (first.status, second.status) == ("running", "queued")
    with pytest.raises(Exception, match="already running"):
        jobs.start("a", "train", slow)
    third = jobs.start("c", "extract", lambda job: "x")
    jobs.stop("c")  # stopped while queued: it never runs
    restarted = JobRegistry(tmp_path / "jobs")  # the app restarted while these were active
    states = {j.key: j.status for j in restarted.all()}
    assert states == {"a": "interrupted", "b": "interrupted", "c": "interrupted"}
    assert restarted.by_id(first.id).params == {"name": "a"} and "halfway" in restarted.by_id(first.id).detail
    release.set()
    assert jobs.wait(first, 20) and jobs.wait(second, 20) and jobs.wait(third, 20)
    assert (first.status, first.message, second.status, third.status) == ("done", "finished", "done", "stopped")


def test_an_interrupted_job_resumes_from_the_page(tmp_path, tiny_experiment):
    exp = tiny_experiment()
    jobs_dir = exp.paths.root.parent / ".jobs"
    jobs_dir.mkdir(exist_ok=True)
    record = {"id": "20260101-000000-abcdef", "key": exp.name, "kind": "index", "params": {"name": exp.name},
              "status": "running", "created": time.time() - 60}  # fmt: skip
    (jobs_dir / f"{record['id']}.json").write_text(json.dumps(record))
    demo, url = launch(app.AppSettings(logs_dir=exp.paths.root.parent))
    try:
        client = Client(url, analytics_enabled=False, verbose=False)
        table = client.predict(api_name="/jobs")
        assert ["interrupted"] == [row[3] for row in table["data"] if row[0] == record["id"]]
        message, _ = client.predict(record["id"], api_name="/resume_job")
        assert message == f"Resumed index for {exp.name}"
        deadline = time.time() + 60
        while time.time() < deadline and not list(exp.paths.root.glob("added_IVF*.index")):
            time.sleep(0.5)
        assert list(exp.paths.root.glob("added_IVF*.index"))
        table = client.predict(api_name="/jobs")
        assert ["resumed"] == [row[3] for row in table["data"] if row[0] == record["id"]]
        with pytest.raises(Exception, match="Choose an interrupted job"):
            client.predict("no-such-job", api_name="/resume_job")
    finally:
        demo.close()


UI_SOURCES = [ROOT / "app.py", *sorted((ROOT / "rvc" / "ui").rglob("*.py"))]
LABELLED = {"slider": 1, "radio": 1, "checkbox": 1, "_slider": 1}  # widget helpers: the label is argument 2


def _texts(call: str) -> list[str]:
    """Every literal string passed to ``call(...)`` in app.py and the UI package (its label argument for the
    widget helpers)."""
    found = []
    for source in UI_SOURCES:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == call:
                position = LABELLED.get(call, 0)
                arg = node.args[position] if len(node.args) > position else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append(arg.value)
    return found


def test_every_text_of_the_page_has_its_portuguese():
    texts = _texts("L") + _texts("tr") + _texts("fail") + _texts("title") + [app.SERVER_FOLDER, app.UPLOAD]
    texts += _texts("slider") + _texts("radio") + _texts("checkbox") + _texts("_slider")
    texts += ["queued", "running", "done", "failed", "stopped", "interrupted", "preprocess", "extract", "train"]
    assert len(texts) > 80
    missing = [t for t in texts if t not in PT]
    assert not missing, missing
    assert tr("Stop", "pt-BR") == "Parar" and tr("Stop", "en-US") == "Stop" and tr("unknown", "pt") == "unknown"
    from rvc.core.experiment import validate_name

    try:
        validate_name("a b")
    except Exception as e:  # errors raised by the steps, with names in them, are translated too
        assert tr(str(e), "pt-BR") == "O nome do experimento 'a b' contém ' ': use só letras, dígitos, '-', '_' e '.'"
    for en, pt in PT.items():  # the same placeholders in both
        assert sorted(__import__("re").findall(r"\{\w+", en)) == sorted(__import__("re").findall(r"\{\w+", pt)), en


def test_training_line_shows_epoch_loss_and_gpu_memory():
    from rvc.jobs.registry import Job
    from rvc.steps.train.config import TrainStatus

    job = Job("voice", "train", status="running", started=time.time() - 60, fraction=0.5)
    job.progress = TrainStatus(2, 4, 30, {"loss_mel": 21.5}, epoch_step=5, steps_per_epoch=15)
    rows = [{"epoch": 2, "step": 30, "loss_mel": 21.5, "gpu_peak_gb": 7.31}]
    line = app.training_text(job, rows)
    assert line.startswith("Training: epoch 2/4, step 30 (5/15 in this epoch), mel 21.50, GPU 7.3 GB, about 1.0 min")
    assert "GPU" not in app.training_text(job, [{"epoch": 2, "step": 30}])  # CPU runs log no GPU memory
    assert app.training_text(job, rows, "pt").startswith("Treino: epoch 2/4, etapa 30")
