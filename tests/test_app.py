"""The Blocks app driven through gradio_client, as a remote program would use it."""

import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402

import app  # noqa: E402
from tests.helpers import write_wav  # noqa: E402
from tests.test_preprocess import good_folder, speech_with_pauses  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def launch(settings):
    page = app.build_page(settings)
    demo = page.demo
    demo.queue(max_size=16, default_concurrency_limit=1)
    _, url, _ = demo.launch(
        prevent_thread_lock=True,
        quiet=True,
        server_name="127.0.0.1",
        server_port=free_port(),
        **app.launch_options(settings, page),
    )
    return demo, url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    demo, url = launch(app.AppSettings(logs_dir=tmp_path / "logs"))
    client = Client(url, download_files=str(tmp_path / "dl"), analytics_enabled=False, verbose=False)
    try:
        yield client, tmp_path
    finally:
        demo.close()


def test_endpoints_exist(served):
    client, _ = served
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert names == {
        "/create_experiment",
        "/open_experiment",
        "/preprocess",
        "/extract",
        "/train",
        "/stop_training",
        "/training_status",
        "/train_index",
        "/one_click",
        "/package_model",
        "/jobs",
        "/resume_job",
        "/stop_job",
        "/model_card",
        "/ab_lists",
        "/ab_compare",
        "/import_model",
        "/convert",
        "/convert_batch",
        "/live_chunk",
        "/live_stop",
        "/live_open",
        "/live_close",
    }  # fmt: skip  (each has a test through the client in this file or test_app_public.py)


def test_every_endpoint_parameter_has_a_name(served):
    """gradio_client users see what each parameter is: no ``param_<n>`` (a name Gradio makes up)."""
    client, _ = served
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    unnamed = {
        endpoint: [p["parameter_name"] for p in info["parameters"] if re.fullmatch(r"param_\d+", p["parameter_name"])]
        for endpoint, info in api.items()
    }
    assert not {e: names for e, names in unnamed.items() if names}
    train = [p["parameter_name"] for p in api["/train"]["parameters"]]
    assert train == ["name", "batch_size", "epochs", "save_every", "latest_only", "cache_on_gpu", "save_small",
                     "pretrained_g", "pretrained_d", "device", "precision", "compile", "holdout", "eval_every",
                     "patience", "no_eval", "probes", "lang"]  # fmt: skip
    optional = {p["parameter_name"] for p in api["/train"]["parameters"] if p["parameter_has_default"]}
    assert {"holdout", "eval_every", "patience", "no_eval", "probes", "lang"} <= optional  # older calls still work
    one_click = [p["parameter_name"] for p in api["/one_click"]["parameters"]]
    assert one_click[:13] == ["name", "sample_rate", "use_f0", "version", "source", "folder", "files", "folder_files",
                              "segment", "workers", "method", "device", "embedder"]  # fmt: skip
    assert one_click[13:] == [*train[1:9], "train_device", *train[10:]]


def test_missing_weights_offline_show_the_download_hint(served, monkeypatch):
    """Offline, with no HuBERT weights yet: /convert shows the WeightsError's hint (what to download, where to save
    it), not Gradio's generic error."""
    from tests.test_ui_handlers import tiny_model

    client, tmp = served
    monkeypatch.setenv("RVC_OFFLINE", "1")
    monkeypatch.setenv("RVC_PRETRAINED_DIR", str(tmp / "no-weights"))
    model = str(tiny_model(tmp / "weights" / "tiny.pth"))
    src = write_wav(tmp / "in.wav", speech_with_pauses(2, 16000, 1), 16000)
    settings = [0, "pm", 0.75, 3, 0.25, 0.33, 0, "wav", "cpu", "", "fp32"]  # precision before the language
    with pytest.raises(Exception) as e:
        client.predict(model, "", handle_file(str(src)), *settings, api_name="/convert")
    message = str(e.value)
    assert "hubert_base" in message and "is missing and downloads are off: download https://" in message, message
    assert "and save it as" in message and str(tmp / "no-weights") in message
    with pytest.raises(Exception, match="está faltando e os downloads estão desligados: baixe https://"):
        client.predict(model, "", handle_file(str(src)), *settings, "pt-BR", api_name="/convert")


def test_step1_and_step2a_from_a_server_folder(served):
    client, tmp = served
    status, _ = client.predict("voice", "48k", False, "v1", api_name="/create_experiment")
    assert "Created **voice**: 48k, v1 (256-d), pitch guidance off" in status
    cfg = json.loads((tmp / "logs" / "voice" / "config.json").read_text())
    assert cfg["experiment"]["sample_rate"] == "48k"
    status, _ = client.predict("voice", "48k", False, "v1", api_name="/create_experiment")
    assert status.startswith("Opened")
    d = good_folder(tmp / "ds", n=2)
    (d / "readme.txt").write_text("not audio")
    status, report, hist, *examples = client.predict(
        "voice", app.SERVER_FOLDER, str(d), None, None, "3.7", 2, api_name="/preprocess"
    )
    assert 'data-status="done"' in status and report.startswith("2 of 3 files processed, 1 skipped")
    assert "Speech kept:" in report and "Clipped files: 0" in report
    assert (
        sum(row[1] for row in (hist.get("value") or hist)["data"]) > 0 and len(examples) >= 1
    )  # loudness histogram, pieces
    assert "skipped readme.txt: not a readable audio or video file" in report
    assert any((tmp / "logs" / "voice" / "0_gt_wavs").iterdir())


def test_step2a_from_uploads(served):
    client, tmp = served
    client.predict("up", "40k", True, "v2", api_name="/create_experiment")
    a = write_wav(tmp / "src" / "first take.wav", speech_with_pauses(5, 44100, 1), 44100)
    b = write_wav(tmp / "src2" / "first take.wav", speech_with_pauses(5, 44100, 2), 44100)  # same name
    _, report, *_ = client.predict(
        "up", app.UPLOAD, "", [handle_file(str(a)), handle_file(str(b))], None, "3.0", 1, api_name="/preprocess"
    )
    assert report.startswith("2 of 2 files processed")
    assert sorted(p.name for p in (tmp / "logs" / "up" / "uploads").iterdir()) == ["first take.wav", "first take_1.wav"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("../x", "40k", True, "v2"), "path separator"),
        (("x y", "40k", True, "v2"), "contains ' '"),
        (("", "40k", True, "v2"), "empty"),
    ],
)
def test_step1_errors_reach_the_client(served, args, message):
    client, _ = served
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/create_experiment")


def test_step2a_errors_reach_the_client(served):
    client, tmp = served
    with pytest.raises(Exception, match="does not exist"):
        client.predict("ghost", app.SERVER_FOLDER, str(tmp), None, None, "3.7", 1, api_name="/preprocess")
    client.predict("voice", "40k", True, "v2", api_name="/create_experiment")
    with pytest.raises(Exception, match="Dataset folder not found"):
        client.predict("voice", app.SERVER_FOLDER, str(tmp / "nope"), None, None, "3.7", 1, api_name="/preprocess")
    with pytest.raises(Exception, match="No files were uploaded"):
        client.predict("voice", app.UPLOAD, "", None, None, "3.7", 1, api_name="/preprocess")


def test_server_paths_refused_when_public(tmp_path):
    demo, url = launch(app.AppSettings(logs_dir=tmp_path / "logs", allow_server_paths=False))
    try:
        client = Client(url, analytics_enabled=False, verbose=False)
        client.predict("voice", "40k", True, "v2", api_name="/create_experiment")
        # the choice is not even offered; a forged request is refused by the radio's own validation
        with pytest.raises(Exception, match="not in the list of choices"):
            client.predict("voice", app.SERVER_FOLDER, "/etc", None, None, "3.7", 1, api_name="/preprocess")
    finally:
        demo.close()


def test_public_host_disables_server_paths_and_auth_is_parsed():
    args = app.parse_args(["--host", "0.0.0.0", "--auth", "me:secret:x", "--port", "7999"])
    assert (args.host, args.port, args.auth) == ("0.0.0.0", 7999, "me:secret:x")
    assert not app._is_loopback("0.0.0.0") and app._is_loopback("127.0.0.1") and app._is_loopback("localhost")
    with pytest.raises(SystemExit):
        app.parse_args(["--auth", "nocolon"])


def test_starting_the_app_imports_no_torch(tmp_path):
    code = (
        "import sys, app; from pathlib import Path;"
        "app.build_demo(app.AppSettings(Path(sys.argv[1])));"
        "print(sorted(m for m in ('torch', 'transformers', 'faiss', 'scipy') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_step2b_from_the_client(served, embedder_dir):
    client, tmp = served
    client.predict("voice", "40k", True, "v2", api_name="/create_experiment")
    with pytest.raises(Exception, match="run Step 2a first"):
        client.predict("voice", "pm", "cpu", str(embedder_dir), api_name="/extract")
    client.predict(
        "voice", app.SERVER_FOLDER, str(good_folder(tmp / "ds", n=1)), None, None, "3.7", 1, api_name="/preprocess"
    )
    _, summary, plot = client.predict("voice", "pm", "cpu", str(embedder_dir), api_name="/extract")
    assert "pieces extracted, 0 skipped; pitch (pm)" in summary
    assert plot["value"]["data"]  # the pitch track of one piece
    assert any((tmp / "logs" / "voice" / "3_feature768").iterdir())


def test_step3_training_runs_in_the_background(served, tiny_experiment, narrow_discriminator):
    import time

    client, tmp = served
    exp = tiny_experiment()
    args = ["voice", 4, 1, 1, False, False, False]
    defaults = client.predict(exp.name, api_name="/training_status")  # nothing running yet
    assert defaults[0] == "" and defaults[1] == ""
    from rvc.hub import weights

    pg = str(weights.pretrained_dir() / "pretrained_v2" / "f0G40k.pth")
    pd_ = str(weights.pretrained_dir() / "pretrained_v2" / "f0D40k.pth")
    status, _ = client.predict(*args, pg, pd_, "cpu", "fp32", False, api_name="/train")
    assert "started" in status
    with pytest.raises(Exception, match="already (queued|running)"):
        client.predict(*args, pg, pd_, "cpu", "fp32", False, api_name="/train")
    deadline = time.time() + 240
    while time.time() < deadline:
        _, status, log, plot, card, _, _ = client.predict(exp.name, api_name="/training_status")
        if "Training **" in status:
            break
        time.sleep(1)
    assert "Training **done**" in status, status
    assert "epoch 1/1" in log and (plot.get("value") or plot)["data"]
    assert (tmp / "weights" / "voice.pth").is_file() or any(exp.paths.root.glob("G_*.pth"))
    assert "No job is running" in client.predict(exp.name, api_name="/stop_training")
    assert "voice.pth" in card and "1 epochs" in card
    # A/B: a piece through the checkpoint and the small model
    piece, model_a, model_b = client.predict(exp.name, api_name="/ab_lists")
    names = [c[0] if isinstance(c, (list, tuple)) else c for c in model_a["choices"]]
    assert (
        piece["value"]
        and any(Path(n).name.startswith("G_") for n in names)
        and any(n.endswith("voice.pth") for n in names)
    )
    g = next(n for n in names if Path(n).name.startswith("G_"))
    small = next(n for n in names if n.endswith("voice.pth"))
    original, a, b, table = client.predict(exp.name, piece["value"], g, small, api_name="/ab_compare")
    assert all(Path(x).is_file() for x in (original, a, b)) and table.count("| A |") == 1 and "MCD" in table
    with pytest.raises(Exception, match="Choose a piece and two checkpoints"):
        client.predict(exp.name, None, g, small, api_name="/ab_compare")


def test_infer_tab_converts(served, tiny_experiment, embedder_dir):
    from gradio_client import handle_file

    from rvc.steps.index import train_index
    from rvc.steps.train import loop as T
    from tests.helpers import espeak

    client, tmp = served
    exp = tiny_experiment()
    cfg = T.TrainConfig(
        epochs=1, batch_size=2, no_pretrained=True, device="cpu", weights_dir=tmp / "weights", discriminator_scale=0.25
    )
    model = str(T.train(exp, cfg).small_model)
    index = str(train_index(exp).path)
    src = espeak("Convert me in the browser.", tmp / "say.wav")
    with pytest.raises(Exception, match="Choose a model"):
        client.predict(
            "",
            "",
            handle_file(str(src)),
            0,
            "pm",
            0.75,
            3,
            0.25,
            0.33,
            0,
            "wav",
            "cpu",
            str(embedder_dir),
            api_name="/convert",
        )
    info, out = client.predict(
        model,
        index,
        handle_file(str(src)),
        2,
        "pm",
        0.75,
        3,
        0.25,
        0.33,
        0,
        "flac",
        "cpu",
        str(embedder_dir),
        api_name="/convert",
    )
    assert "at 40000 Hz in 1 part(s)" in info and Path(out).stat().st_size > 1000

    # batch mode: two recordings with the same name, one with the same stem, and a file that is not audio
    from tests.helpers import encode

    (tmp / "b").mkdir()
    twin = espeak("A second recording.", tmp / "b" / "say.wav")
    flac = encode(twin, tmp / "say.flac")
    (tmp / "notes.txt").write_text("not audio")
    settings = [2, "pm", 0.75, 3, 0.25, 0.33, 0, "wav", "cpu", str(embedder_dir)]
    files = [handle_file(str(f)) for f in (src, twin, flac, tmp / "notes.txt")]
    report, outs = client.predict(model, index, files, *settings, api_name="/convert_batch")
    assert report.startswith("Converted 3 of 4 files") and "notes.txt" in report, report
    names = sorted(Path(o).name for o in outs)
    assert names == ["converted_voice.zip", "say-2.wav", "say-3.wav", "say.wav"], names
    import zipfile

    archive = zipfile.ZipFile(next(o for o in outs if o.endswith(".zip")))
    assert sorted(archive.namelist()) == ["say-2.wav", "say-3.wav", "say.wav"]
    with pytest.raises(Exception, match="Upload the recordings"):
        client.predict(model, index, [], *settings, api_name="/convert_batch")


def test_open_experiment_index_card_package_and_import(served, tiny_experiment):
    """The endpoints around a trained model: open, train the index, the model card, the zip, importing it."""
    from gradio_client import handle_file

    from tests.test_pipeline import _small_model_file

    client, tmp = served
    exp = tiny_experiment()
    name, sr, f0, version, summary = client.predict(exp.name, api_name="/open_experiment")
    assert (name, sr, f0, version) == ("voice", "40k", True, "v2") and summary.startswith("Opened **voice**")
    with pytest.raises(Exception, match="No model yet"):
        client.predict(exp.name, api_name="/package_model")
    status = client.predict(exp.name, api_name="/train_index")
    assert 'data-status="done"' in status and "added_IVF" in status
    (tmp / "weights").mkdir()
    model = _small_model_file(tmp / "weights" / "voice.pth", epoch=7, step=70, dataset_seconds=90.0)
    card, zipped, best_zip = client.predict(exp.name, api_name="/package_model")
    assert "7 epochs, 70 steps" in card and "1.5 min of training audio" in card and zipped.endswith("voice.zip")
    assert best_zip is None  # no best-scoring model kept
    _small_model_file(tmp / "weights" / "voice_best.pth", epoch=5, step=50, dataset_seconds=90.0)
    card, zipped, best_zip = client.predict(exp.name, api_name="/package_model")
    assert best_zip.endswith("voice_best.zip") and "voice_best.zip" in card
    with zipfile.ZipFile(best_zip) as z:
        assert sorted(Path(n).suffix for n in z.namelist()) == [".index", ".pth"] and "voice_best.pth" in z.namelist()
    card, index = client.predict(str(model), api_name="/model_card")
    assert "voice: 40k, v2, with pitch guidance" in card and index["value"].endswith("_voice_v2.index")
    imported = tmp / "elsewhere"
    imported.mkdir()
    (imported / "voice.zip").write_bytes(Path(zipped).read_bytes())
    (tmp / "weights" / "voice.pth").unlink()  # as on another machine: the zip brings the model back
    message, model_update, index_update, _ = client.predict(
        handle_file(str(imported / "voice.zip")), "", None, api_name="/import_model"
    )
    model_path, index_path = model_update["value"], index_update["value"]
    assert message.startswith("Imported: voice: 40k") and Path(model_path) == tmp / "weights" / "voice.pth"
    assert Path(index_path).parent == tmp / "weights" and index_path.endswith("_voice_v2.index")
    with pytest.raises(Exception, match="Invalid file type"):  # the upload's own type check
        client.predict(handle_file(str(exp.paths.config)), "", None, api_name="/import_model")
    fake = tmp / "fake.zip"
    fake.write_text("not a zip")
    with pytest.raises(Exception, match="fake.zip is not a zip archive"):
        client.predict(handle_file(str(fake)), "", None, api_name="/import_model")


def test_one_click_and_stop_endpoints_report_bad_input(served):
    client, tmp = served
    args = ["voice", "40k", True, "v2", app.SERVER_FOLDER, str(tmp / "missing"), None, None, "3.7", 1, "pm", "cpu", ""]
    train = [2, 1, 1, False, False, False, "", "", "cpu", "fp32", False]
    with pytest.raises(Exception, match="Dataset folder not found"):
        client.predict(*args, *train, api_name="/one_click")
    with pytest.raises(Exception, match="contains a path separator"):
        client.predict("../x", *args[1:], *train, api_name="/one_click")
    message, table = client.predict("no-such-job", api_name="/stop_job")
    assert message == "No job is running for this experiment." and "data" in table
