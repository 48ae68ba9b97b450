"""The app in headless Chromium (Debian's chromium driven by Playwright; no browser download)."""

import contextlib
import os
import re
import shutil
import time
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import app  # noqa: E402
from tests.helpers import espeak  # noqa: E402
from tests.test_app import launch  # noqa: E402
from tests.test_preprocess import good_folder  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (scripts/setup.sh --dev)"),
]


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    demo, url = launch(app.AppSettings(logs_dir=tmp_path / "logs"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            pg = browser.new_page(viewport={"width": 1280, "height": 1600})
            pg.goto(url, wait_until="load")  # not networkidle: the Live tab's streaming audio keeps a request open
            pg.get_by_role("tab", name="Train").wait_for(timeout=60_000)
            yield pg, tmp_path
            browser.close()
    finally:
        demo.close()


def test_steps_1_2a_2b_in_the_browser(page, embedder_dir):
    from playwright.sync_api import expect

    pg, tmp = page
    ARTIFACTS.mkdir(exist_ok=True)
    expect(pg.get_by_role("tab", name="Train")).to_be_visible()
    expect(pg.locator("#step3-status")).to_contain_text("One-click training runs Steps 2a, 2b and 3")

    pg.locator("#exp-name textarea, #exp-name input").first.fill("browser-voice")
    pg.locator("#exp-sr").get_by_text("48k").click()
    pg.locator("#exp-create").click()
    expect(pg.locator("#exp-status")).to_contain_text("Created browser-voice: 48k, v2", timeout=20_000)
    assert (tmp / "logs" / "browser-voice" / "config.json").is_file()

    d = good_folder(tmp / "dataset", n=2)
    (d / "broken.mp3").write_bytes(b"\x00" * 1000)
    pg.locator("#pp-folder textarea, #pp-folder input").first.fill(str(d))
    pg.locator("#pp-run").click()
    report = pg.locator("#pp-report textarea")
    expect(report).to_have_value(re.compile(r"^2 of 3 files processed, 1 skipped"), timeout=60_000)
    expect(report).to_have_value(re.compile(r"skipped broken\.mp3: "))
    expect(report).to_have_value(re.compile(r"Speech kept: .*\nClipped files: 0", re.S))
    expect(pg.locator("#pp-hist")).to_contain_text("Loudness of the pieces")
    expect(pg.locator("#pp-example-0 audio[src]").first).to_be_attached()  # the loudest piece, playable
    pg.screenshot(path=str(ARTIFACTS / "train_step1_2a.png"), full_page=True)

    # Step 2b with pm and the test's random-weight HuBERT
    pg.locator("#ex-method").get_by_text("pm", exact=True).click()
    pg.locator("#ex-device").get_by_text("cpu", exact=True).click()
    pg.locator("#ex-embedder input").first.fill(str(embedder_dir))
    pg.locator("#ex-embedder input").first.press("Enter")  # a typed path: the dropdown's custom value
    pg.locator("#ex-run").click()
    expect(pg.locator("#ex-report textarea")).to_have_value(re.compile(r"^4 of 4 pieces extracted"), timeout=90_000)
    expect(pg.locator("#ex-plot")).to_contain_text("F0 · ")
    pg.screenshot(path=str(ARTIFACTS / "train_step2b.png"), full_page=True)

    pg.get_by_role("tab", name="Infer").click()
    expect(pg.locator("#in-run")).to_be_visible()
    pg.screenshot(path=str(ARTIFACTS / "infer.png"), full_page=True)


def test_bad_name_shows_an_error_in_the_page(page):
    from playwright.sync_api import expect

    pg, _ = page
    pg.locator("#exp-name textarea, #exp-name input").first.fill("../../etc")
    pg.locator("#exp-create").click()
    expect(pg.get_by_text("contains a path separator")).to_be_visible(timeout=20_000)
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "train_bad_name.png"))


def test_training_from_the_browser_survives_a_reload(page, tiny_experiment, narrow_discriminator):
    from playwright.sync_api import expect

    pg, tmp = page
    tiny_experiment()
    pg.locator("#exp-name textarea, #exp-name input").first.fill("voice")
    pg.locator("#tr-epochs input[type=number]").fill("50")
    pg.locator("#tr-epochs input[type=number]").press("Enter")
    pg.locator("#tr-start").click()
    expect(pg.locator("#tr-status")).to_contain_text("Training: epoch", timeout=60_000)
    expect(pg.locator("#tr-plot")).to_contain_text("Losses", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "train_step3_running.png"), full_page=True)
    pg.reload(wait_until="load")  # the job lives on; the page finds it again
    expect(pg.locator("#exp-name textarea, #exp-name input").first).to_have_value("voice", timeout=20_000)
    expect(pg.locator("#tr-status")).to_contain_text("Training: epoch", timeout=30_000)
    pg.locator("#tr-stop").click()
    expect(pg.locator("#tr-status")).to_contain_text("Training stopped", timeout=120_000)
    pg.screenshot(path=str(ARTIFACTS / "train_step3_stopped.png"), full_page=True)


def test_one_click_reload_infer_and_portuguese(page, dataset, embedder_dir, narrow_discriminator):
    """One-click training from the page on a small espeak-ng dataset: progress and losses update, a reload finds
    the job, the model converts a file in the Infer tab and the result plays; then the page in Portuguese."""
    from playwright.sync_api import expect

    from tests.test_pipeline import shrunk

    pg, tmp = page
    shrunk(tmp / "logs")  # the experiment "voice" with a tiny model, so CPU training takes seconds
    ARTIFACTS.mkdir(exist_ok=True)
    pg.locator("#exp-name textarea, #exp-name input").first.fill("voice")
    pg.locator("#pp-folder textarea, #pp-folder input").first.fill(str(dataset))
    pg.locator("#ex-method").get_by_text("pm", exact=True).click()
    pg.locator("#ex-device").get_by_text("cpu", exact=True).click()
    pg.locator("#ex-embedder input").first.fill(str(embedder_dir))
    pg.locator("#ex-embedder input").first.press("Enter")  # a typed path: the dropdown's custom value
    for elem, value in (("#tr-epochs", "4"), ("#tr-batch", "2"), ("#tr-save", "1")):
        pg.locator(f"{elem} input[type=number]").fill(value)
        pg.locator(f"{elem} input[type=number]").press("Enter")
    pg.locator("#tr-one-click").click()
    status = pg.locator("#job-status")
    expect(status.locator(".rvc-job")).to_have_attribute("data-kind", "one-click", timeout=30_000)
    expect(status).to_contain_text("train: epoch", timeout=120_000)  # preprocess and extract done, training
    plot = pg.locator("#tr-plot")
    expect(plot).to_contain_text(re.compile(r"\dstep\d"), timeout=60_000)  # axes with ticks: points are drawn
    first = plot.inner_text()
    expect(plot).not_to_have_text(first, timeout=60_000)  # and it keeps updating
    pg.screenshot(path=str(ARTIFACTS / "one_click_running.png"), full_page=True)

    pg.reload(wait_until="load")  # the job lives on; the page finds it again
    expect(pg.locator("#exp-name textarea, #exp-name input").first).to_have_value("voice", timeout=20_000)
    expect(status.locator(".rvc-job")).to_have_attribute("data-kind", "one-click", timeout=20_000)
    expect(status.locator(".rvc-job")).to_have_attribute("data-status", "done", timeout=240_000)
    expect(pg.locator("#tr-card")).to_contain_text("voice.pth", timeout=20_000)
    expect(pg.locator("#tr-package")).to_contain_text(re.compile(r"voice\s*\.zip"))
    pg.screenshot(path=str(ARTIFACTS / "one_click_done.png"), full_page=True)

    pg.get_by_role("tab", name="Jobs").click()
    expect(pg.locator("#jobs-table")).to_contain_text("one-click", timeout=20_000)
    pg.screenshot(path=str(ARTIFACTS / "jobs.png"), full_page=True)

    pg.get_by_role("tab", name="Infer").click()
    pg.locator("#in-model input").click()
    pg.get_by_role("option", name=re.compile(r"voice\.pth$")).click()
    expect(pg.locator("#in-card")).to_contain_text("40k, v2, with pitch guidance", timeout=20_000)
    expect(pg.locator("#in-index input")).to_have_value(re.compile(r"added_IVF\d+_Flat_nprobe_1_voice_v2\.index$"))
    src = espeak("This is the converted voice.", tmp / "say.wav")
    pg.locator("#in-audio input[type=file]").set_input_files(str(src))
    pg.locator("#in-method").get_by_text("pm", exact=True).click()
    pg.locator("#in-device").get_by_text("cpu", exact=True).click()
    pg.locator("#in-embedder input").first.fill(str(embedder_dir))
    pg.locator("#in-embedder input").first.press("Enter")  # a typed path: the dropdown's custom value
    pg.locator("#in-run").click()
    expect(pg.locator("#in-info")).to_contain_text("at 40000 Hz", timeout=120_000)
    audio = pg.locator("#in-result audio[src]").first
    expect(audio).to_have_attribute("src", re.compile(r".+"), timeout=20_000)
    duration = audio.evaluate(
        "a => new Promise(r => { if (a.readyState >= 1) r(a.duration); else a.onloadedmetadata = () => r(a.duration); })"
    )
    assert duration > 0.5
    assert audio.evaluate("a => { a.muted = true; return a.play().then(() => !a.paused); }")  # it plays
    pg.screenshot(path=str(ARTIFACTS / "infer_result.png"), full_page=True)

    # the language switch: Gradio's Settings panel, opened by the button at the top
    pg.locator("#lang-switch").click()
    chooser = pg.get_by_label("Language").last
    chooser.click()
    pg.get_by_role("option", name="Português do Brasil").click()
    dialog = pg.get_by_role("dialog")
    dialog.locator("h2 + button, h2 button").first.click()  # the ✖ beside the panel's title
    expect(dialog).to_be_hidden()
    expect(pg.get_by_role("tab", name="Treinar")).to_be_visible(timeout=20_000)
    expect(pg.get_by_role("tab", name="Tarefas")).to_be_visible()
    pg.get_by_role("tab", name="Treinar").click()
    expect(pg.locator("#exp-create")).to_contain_text("Criar / abrir experimento")
    pg.locator("#exp-name textarea, #exp-name input").first.fill("voice")
    pg.locator("#exp-create").click()
    expect(pg.locator("#exp-status")).to_contain_text("Aberto voice", timeout=20_000)  # a message from the server
    pg.screenshot(path=str(ARTIFACTS / "train_pt.png"), full_page=True)


def fake_microphone(mic: Path) -> list[str]:
    """Chromium's flags for a fake microphone playing the file ``mic`` (and audio that plays without a click)."""
    return [*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic}", "--autoplay-policy=no-user-gesture-required"]  # fmt: skip


@contextlib.contextmanager
def live_app(tmp_path):
    """The app serving a narrow ``live.pth`` with one live slot, and a browser context whose microphone plays
    speech: yields ``(context, url)``."""
    from playwright.sync_api import sync_playwright

    from rvc.audio.io import decode_audio
    from tests.helpers import write_wav
    from tests.test_live import small_model

    (tmp_path / "weights").mkdir()
    small_model(tmp_path / "weights" / "live.pth")
    speech = espeak("Hello, this is my live voice. " * 3, tmp_path / "mic_src.wav")
    mic = write_wav(tmp_path / "mic.wav", decode_audio(speech, 48000).samples, 48000)
    demo, url = launch(app.AppSettings(logs_dir=tmp_path / "logs", live_sessions=1))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=fake_microphone(mic))
            yield browser.new_context(viewport={"width": 1280, "height": 1600}, permissions=["microphone"]), url
            browser.close()
    finally:
        demo.close()


def test_live_tab_with_a_fake_microphone(tmp_path, embedder_dir):
    """Chromium's fake microphone plays a recording into the Live tab: converted audio streams back and plays;
    stopping frees the session, a second page gets its own, and closing that page frees it too. The time from
    pressing record to the first converted audio in the page is printed (a warm model: the second start)."""
    from playwright.sync_api import expect

    with live_app(tmp_path) as (context, url):
        pg = context.new_page()
        pg.goto(url, wait_until="load")
        starts = [_live_once(pg, embedder_dir, expect) for _ in range(2)]
        pg.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)
        second = context.new_page()
        second.goto(url, wait_until="load")
        _live_start(second, embedder_dir, expect)  # the one slot (stop freed it): its own session
        expect(second.locator("#live-readout")).to_contain_text(re.compile(r"[1-9]\d* blocks"), timeout=60_000)
        _live_start(pg, embedder_dir, expect)  # the first page meanwhile is told why it must wait
        expect(pg.locator("#live-readout")).to_contain_text("1 live session(s) are running", timeout=30_000)
        second.close()  # a dropped connection: Gradio drops the page's state, which frees the slot
        t0 = time.perf_counter()  # and the waiting page, still streaming, starts by itself
        readout = pg.locator("#live-readout")
        expect(readout).to_contain_text(re.compile(r"Latency: 260 ms.*[1-9]\d* blocks", re.S), timeout=180_000)
        print(f"live: the closed page's slot was free again after {time.perf_counter() - t0:.0f} s")
        pg.locator("#live-mic").get_by_role("button", name=re.compile("stop", re.I)).first.click()
    print(f"live: first converted audio in the page {starts[1]:.2f} s after record (cold start {starts[0]:.2f} s)")


def test_live_over_the_websocket_with_a_fake_microphone(tmp_path, embedder_dir):
    """Start streams Chromium's fake microphone over the WebSocket through the AudioWorklet: the converted voice
    plays in the page with the end-to-end latency the page measures (capture to playback, plus the crossfade and
    search; printed), which is at least the algorithmic latency. A second page is told why it waits and starts by
    itself when the first stops; closing it frees the slot for the first again."""
    from playwright.sync_api import expect

    with live_app(tmp_path) as (context, url):
        pg = context.new_page()
        pg.goto(url, wait_until="load")
        live_settings(pg, embedder_dir, expect)
        pg.locator("#live-ws-start").click()
        e2e = pg.locator("#live-e2e")
        expect(e2e).to_contain_text(re.compile(r"End to end: \d+ ms.*[1-9]\d* blocks", re.S), timeout=60_000)
        pg.wait_for_function("() => window.rvcLive.latest && window.rvcLive.latest.played_s > 3", timeout=60_000)
        latest = pg.evaluate("() => window.rvcLive.latest")
        pg.screenshot(path=str(ARTIFACTS / "live_ws.png"), full_page=True)
        assert latest["peak"] > 0 and latest["server"]["algorithmic_latency_ms"] == 260
        assert 260 <= latest["e2e_ms"] - latest["device_ms"] < 260 + 3000, latest
        print(f"live (WebSocket): end to end {latest['e2e_ms']:.0f} ms measured in the page (algorithmic 260, "
              f"devices {latest['device_ms']:.0f}, gaps {latest['gaps']}, jitter buffer {latest['jitter_ms']:.0f} "
              f"ms, compute median {latest['server']['compute_ms_median']:.0f} ms)")  # fmt: skip
        second = context.new_page()
        second.goto(url, wait_until="load")
        live_settings(second, embedder_dir, expect)
        second.locator("#live-ws-start").click()
        expect(second.locator("#live-readout")).to_contain_text("1 live session(s) are running", timeout=30_000)
        pg.locator("#live-ws-stop").click()  # the first stops: the waiting page starts by itself
        expect(pg.locator("#live-readout")).to_contain_text("Stopped.", timeout=20_000)
        expect(second.locator("#live-e2e")).to_contain_text("End to end", timeout=60_000)
        second.close()  # its socket drops and its page goes: the slot is free for the first page again
        pg.locator("#live-ws-start").click()
        expect(e2e).to_contain_text(re.compile(r"End to end: \d+ ms"), timeout=60_000)


def live_settings(pg, embedder_dir, expect, method="pm", block=0.2, context=0.5):
    """The Live tab's settings for the model ``live.pth`` (bench/live.py --browser uses it too)."""
    expect(pg.get_by_role("tab", name="Live")).to_be_visible(timeout=60_000)
    pg.get_by_role("tab", name="Live").click()
    pg.locator("#live-model input").click()
    pg.get_by_role("option", name=re.compile(r"live\.pth$")).click()
    pg.locator("#live-method").get_by_text(method, exact=True).click()
    pg.locator("#live-device").get_by_text("cpu", exact=True).click()
    pg.locator("#live-embedder input").first.fill(str(embedder_dir))
    pg.locator("#live-embedder input").first.press("Enter")  # a typed path: the dropdown's custom value
    pg.locator("#live-block input[type=number]").fill(str(block))
    pg.locator("#live-block input[type=number]").press("Enter")
    pg.locator("#live-context input[type=number]").fill(str(context))
    pg.locator("#live-context input[type=number]").press("Enter")


def _live_start(pg, embedder_dir, expect):
    live_settings(pg, embedder_dir, expect)
    if not pg.locator("#live-mic").is_visible():
        pg.get_by_text("Through Gradio's streaming audio").click()  # the accordion of the second path
    pg.locator("#live-mic").get_by_role("button", name=re.compile("record", re.I)).first.click()


def _live_once(pg, embedder_dir, expect) -> float:
    """One start and stop; returns the seconds from pressing record to the first converted audio in the page."""
    _live_start(pg, embedder_dir, expect)
    t0 = time.perf_counter()
    pg.locator("#live-out a.download-link[href]").wait_for(state="attached", timeout=60_000)  # audio came back
    started = time.perf_counter() - t0
    readout = pg.locator("#live-readout")
    expect(readout).to_contain_text(re.compile(r"Latency: 260 ms algorithmic.*[1-9]\d* blocks", re.S), timeout=60_000)
    pg.locator("#live-mic").get_by_role("button", name=re.compile("stop", re.I)).first.click()
    expect(readout).to_contain_text("blocks", timeout=20_000)
    return started


def test_import_a_shared_model_from_a_link(page, tmp_path, monkeypatch):
    """Paste a link to a shared zip in the Infer tab: the model and its index land in weights/ with their card."""
    monkeypatch.delenv("RVC_OFFLINE", raising=False)  # the test's own server stands in for the host
    import http.server
    import threading
    import zipfile

    from playwright.sync_api import expect

    from tests.helpers import tiny_model

    pg, tmp = page
    files = tmp_path / "served"
    model = tiny_model(files / "voice.pth")
    with zipfile.ZipFile(files / "voice.zip", "w") as z:
        z.write(model, "Voice/voice.pth")
        z.writestr("Voice/added_IVF4_Flat_nprobe_1_voice_v2.index", b"IwFl" + bytes(100))
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(files), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        pg.get_by_role("tab", name="Infer").click()
        pg.get_by_text("Import a model (a link", exact=False).click()
        pg.locator("#in-link textarea").fill(f"http://127.0.0.1:{server.server_port}/voice.zip")
        pg.locator("#in-import").click()
        said = pg.locator("#in-import-info")
        expect(said).to_contain_text("Imported: voice: 40k, v2", timeout=60_000)
        expect(said).to_contain_text("added_IVF4_Flat_nprobe_1_voice_v2.index")
        expect(pg.locator("#in-card")).to_contain_text("voice: 40k, v2, with pitch guidance")  # the chosen model's
        expect(pg.locator("#in-index input")).to_have_value(re.compile(r"added_IVF4_Flat_nprobe_1_voice_v2\.index$"))
        assert (tmp / "weights" / "voice.pth").read_bytes() == model.read_bytes()
        assert (tmp / "weights" / "added_IVF4_Flat_nprobe_1_voice_v2.index").is_file()
        pg.screenshot(path=str(ARTIFACTS / "infer_import_link.png"), full_page=True)
    finally:
        server.shutdown()
