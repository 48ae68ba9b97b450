"""The page's handlers called directly, as plain functions of a context and one form: no server, no browser."""

import inspect
import json
import os
from pathlib import Path

import gradio as gr
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rvc.ui.context import AppSettings, UiContext  # noqa: E402
from rvc.ui.forms import NameForm, bind, form_fields  # noqa: E402
from rvc.ui.infer import ConvertForm, run_convert  # noqa: E402
from rvc.ui.jobs import JobForm, jobs_table, stop_job  # noqa: E402
from rvc.ui.train.experiment import ExperimentForm, create_experiment, load_experiment  # noqa: E402
from rvc.ui.train.oneclick import OneClickForm  # noqa: E402
from rvc.ui.train.training import TrainForm, start_training, training_status  # noqa: E402
from tests.helpers import tiny_model, tone, write_wav  # noqa: E402

SETTINGS = dict(transpose=0, method="pm", index_rate=0.75, radius=3, rms=0.25, protect=0.33, resample_sr=0,
                fmt="wav", device="cpu", embedder="", precision="fp32")  # fmt: skip


def context(tmp_path: Path, **settings) -> UiContext:
    return UiContext.open(AppSettings(logs_dir=tmp_path / "logs", **settings))


def error_text(e: pytest.ExceptionInfo) -> str:
    assert isinstance(e.value, gr.Error), e.value
    return e.value.message


def test_create_and_open_an_experiment(tmp_path):
    ctx = context(tmp_path)
    status, existing = create_experiment(
        ctx, ExperimentForm(name=" voice ", sample_rate="48k", use_f0=False, version="v1")
    )
    assert status.startswith("Created **voice**: 48k, v1 (256-d), pitch guidance off")
    assert existing.value == "voice" and "voice" in [c[0] for c in existing.choices]
    assert json.loads((tmp_path / "logs" / "voice" / "config.json").read_text())["experiment"]["sample_rate"] == "48k"
    status, _ = create_experiment(
        ctx, ExperimentForm(name="voice", sample_rate="48k", use_f0=False, version="v1", lang="pt-BR")
    )
    assert status.startswith("Aberto **voice**")
    assert load_experiment(ctx, NameForm(name="voice"))[:4] == ("voice", "48k", False, "v1")


def test_errors_are_shown_in_the_pages_language(tmp_path):
    ctx = context(tmp_path)
    with pytest.raises(gr.Error) as e:
        create_experiment(ctx, ExperimentForm(name="a b", sample_rate="40k", use_f0=True, version="v2", lang="pt-BR"))
    assert error_text(e) == "O nome do experimento 'a b' contém ' ': use só letras, dígitos, '-', '_' e '.'"
    assert e.value.title == "Erro"
    with pytest.raises(gr.Error, match="sample_rate must be one of 32k, 40k, 48k"):  # a forged API call
        create_experiment(ctx, ExperimentForm(name="x", sample_rate="44k", use_f0=True, version="v2"))
    with pytest.raises(gr.Error, match="does not exist"):
        start_training(ctx, TrainForm(name="ghost", batch_size=4, epochs=1, save_every=1, latest_only=False,
                                      cache_on_gpu=False, save_small=False, pretrained_g="", pretrained_d="",
                                      device="cpu", precision="fp32", compile=False, holdout=0.05, eval_every=0,
                                      patience=0, no_eval=False))  # fmt: skip


def test_training_settings_are_checked_as_a_train_config(tmp_path):
    ctx = context(tmp_path)
    create_experiment(ctx, ExperimentForm(name="voice", sample_rate="40k", use_f0=True, version="v2"))
    form = TrainForm(name="voice", batch_size=4, epochs=1.5, save_every=1, latest_only=False, cache_on_gpu=False,
                     save_small=False, pretrained_g="", pretrained_d="", device="cpu", precision="fp32", compile=False,
                     holdout=0.05, eval_every=0, patience=0, no_eval=False)  # fmt: skip
    with pytest.raises(gr.Error, match="epochs must be a whole number"):
        start_training(ctx, form)
    with pytest.raises(gr.Error, match="precision must be one of fp32, fp16, bf16"):
        start_training(ctx, TrainForm(**{**form.__dict__, "epochs": 2, "precision": "fp8"}))
    assert ctx.jobs.all() == []  # nothing started


def test_convert_refuses_what_it_cannot_use(tmp_path):
    shared = context(tmp_path, allow_server_paths=False)
    audio = str(write_wav(tmp_path / "in.wav", tone(1.0, 16000), 16000))
    with pytest.raises(gr.Error, match="Choose a model"):
        run_convert(shared, ConvertForm(model="", index="", audio=audio, **SETTINGS), print)
    with pytest.raises(gr.Error) as e:
        run_convert(shared, ConvertForm(model="/etc/passwd", index="", audio=audio, lang="pt", **SETTINGS), print)
    assert error_text(e).startswith("Só os modelos e indexes listados aqui")
    model = str(tmp_path / "bad.pth")
    Path(model).write_bytes(b"not a model")
    with pytest.raises(gr.Error, match="bad.pth"):
        run_convert(context(tmp_path), ConvertForm(model=model, index="", audio=audio, **SETTINGS), print)
    with pytest.raises(gr.Error, match="index rate must be between 0 and 1"):
        run_convert(context(tmp_path), ConvertForm(model=model, index="", audio=audio, **{**SETTINGS, "index_rate": 3}), print)  # fmt: skip


def test_missing_weights_offline_show_the_download_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("RVC_OFFLINE", "1")
    monkeypatch.setenv("RVC_PRETRAINED_DIR", str(tmp_path / "no-weights"))
    ctx = context(tmp_path)
    model = str(tiny_model(ctx.weights_dir / "tiny.pth"))
    audio = str(write_wav(tmp_path / "in.wav", tone(1.0, 16000), 16000))
    lines: list[str] = []
    with pytest.raises(gr.Error) as e:
        run_convert(ctx, ConvertForm(model=model, index="", audio=audio, lang="pt-BR", **SETTINGS), lines.append)
    text = error_text(e)
    assert "está faltando e os downloads estão desligados: baixe https://" in text and "salve como" in text, text
    assert "loading the model" in lines  # the reporter got the converter's progress


def test_jobs_table_and_stop(tmp_path):
    ctx = context(tmp_path)
    message, table = stop_job(ctx, JobForm(job_id="nope", lang="pt"))
    assert message == "Nenhuma tarefa em execução para este experimento." and list(table.columns)[:2] == [
        "id",
        "experimento",
    ]
    assert jobs_table(ctx, NameForm()).empty
    assert training_status(ctx, NameForm(name="ghost"))[:3] == ("", "", "")


def test_event_functions_are_named_after_the_forms_fields(tmp_path):
    ctx = context(tmp_path)
    names = form_fields(OneClickForm)
    fn = bind(ctx, training_status, NameForm, ["name"])
    assert list(inspect.signature(fn).parameters) == ["name", "lang"] and fn.__name__ == "training_status"
    assert len(names) == 29 and len(set(names)) == 29 and "lang" not in names
    with pytest.raises(TypeError, match="components missing for"):
        bind(ctx, training_status, TrainForm, ["name"])


def test_import_from_a_repository_of_several_models_asks_then_imports(tmp_path, monkeypatch):
    """The Infer tab's link field: a repository with two models shows a pick list; picking one imports it."""
    import http.server
    import threading

    from rvc.ui.infer import ImportForm, import_model
    from tests.test_import import Host  # the local hub of the import tests

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HF_ENDPOINT", base)
    monkeypatch.delenv("RVC_OFFLINE", raising=False)
    model = tiny_model(tmp_path / "m" / "one.pth").read_bytes()
    Host.files = {"/bob/many/resolve/main/a/one.pth": model, "/bob/many/resolve/main/b/two.pth": model}
    Host.declared, Host.cut, Host.html, Host.redirects = {}, set(), set(), {}
    ctx, said = context(tmp_path), []
    try:
        text, _, _, pick = import_model(ctx, ImportForm(archive=None, link=f"{base}/bob/many"), said.append)
        assert (
            "several models: pick one" in text
            and pick.visible
            and pick.choices == [("a/one.pth", "a/one.pth"), ("b/two.pth", "b/two.pth")]
        )
        text, models, _, pick = import_model(
            ctx, ImportForm(archive=None, link=f"{base}/bob/many", pick="b/two.pth"), said.append
        )
        assert text.startswith("Imported: two: 40k, v2") and models.value.endswith("two.pth") and not pick.visible
        assert any("MB" in line for line in said)  # the download's progress reached the page
        shared = context(tmp_path, allow_server_paths=False)  # reachable by others: no private addresses
        with pytest.raises(gr.Error) as e:
            import_model(shared, ImportForm(archive=None, link=f"{base}/bob/many"), said.append)
        assert "local or private address" in error_text(e)
    finally:
        server.shutdown()


def test_torch_handlers_leave_no_openmp_team_on_the_servers_worker(tmp_path):
    """A handler bound with own_thread runs on a thread that ends with it: Gradio's long-lived worker keeps no
    OpenMP team (which would slow every other thread's torch work), and the handler still sees the caller's
    context variables, returns its value and raises its errors."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    import torch

    seen = contextvars.ContextVar("seen", default="not copied")

    def handler(ctx, form):
        (torch.randn(256, 256) @ torch.randn(256, 256)).sum().item()  # a parallel region: this thread's team
        if form.name == "bad":
            raise ValueError("bad name")
        return f"{form.name} {seen.get()}"

    def native_threads(settle: int | None = None) -> int:
        """This process's threads, once they number ``settle`` (ending threads take a moment; 2 s at most)."""
        import time

        for _ in range(40):
            n = len(os.listdir("/proc/self/task"))
            if n == settle or settle is None:
                break
            time.sleep(0.05)
        return n

    seen.set("copied")
    ctx = context(tmp_path)
    server = ThreadPoolExecutor(max_workers=1)  # stands for Gradio's worker thread, which lives on
    server.submit(int).result()
    before = native_threads()
    fn = bind(ctx, handler, NameForm, ["name"], own_thread=True)
    assert server.submit(contextvars.copy_context().run, fn, "voice", "en").result() == "voice copied"
    assert native_threads(settle=before) == before  # its thread and that thread's team are gone
    with pytest.raises(ValueError, match="bad name"):
        server.submit(fn, "bad", "en").result()
    server.submit(bind(ctx, handler, NameForm, ["name"]), "voice", "en").result()  # on the worker itself
    assert native_threads() > before  # the worker now keeps a team: what own_thread avoids
    server.shutdown()
    with pytest.raises(TypeError, match="generator"):
        bind(ctx, lambda ctx, form: (yield), NameForm, ["name"], own_thread=True)
