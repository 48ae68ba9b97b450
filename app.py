"""RVC Studio web UI: a thin Gradio Blocks layer over the ``rvc`` package.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--auth user:pass] [--logs-dir DIR]
                  [--allow-server-paths]

Every handler here only adapts widgets to a function of ``rvc`` and turns its typed errors into messages on
the page. Starting the app imports no torch and loads no model.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from rvc.config import SAMPLE_RATES, VERSIONS
from rvc.errors import RvcError
from rvc.experiment import ExperimentConfig, create_or_open, default_logs_dir, list_experiments, open_experiment
from rvc.jobs import JobRegistry

logger = logging.getLogger("rvc.app")

SERVER_FOLDER = "Folder on the server"
UPLOAD = "Upload files or a folder"
NOT_BUILT = "Not built yet: this step arrives in a later release of RVC Studio."


@dataclass(frozen=True)
class AppSettings:
    """What the UI needs to know about how it is served."""

    logs_dir: Path
    allow_server_paths: bool = True  # off when others can reach the app, unless asked for


def _fail(e: Exception) -> gr.Error:
    return gr.Error(str(e), duration=None, title="Error")


def _experiment_summary(exp: Any, created: bool) -> str:
    c = exp.config
    verb = "Created" if created else "Opened"
    return (
        f"{verb} experiment **{c.name}**: {c.sample_rate}, {c.version} "
        f"({c.feature_dim}-d features), pitch guidance {'on' if c.use_f0 else 'off'}. "
        f"Folder: `{exp.paths.root}`"
    )


def build_demo(settings: AppSettings) -> gr.Blocks:
    """The whole UI. Handlers are closures over ``settings``; they hold no other state."""

    def create_experiment(name: str, sample_rate: str, use_f0: bool, version: str) -> tuple[str, Any]:
        try:
            exp, created = create_or_open(
                ExperimentConfig(name.strip(), sample_rate, version, bool(use_f0)), settings.logs_dir
            )
        except (RvcError, ValueError) as e:
            raise _fail(e) from e
        return _experiment_summary(exp, created), gr.Dropdown(
            choices=list_experiments(settings.logs_dir), value=exp.name
        )

    def load_experiment(name: str | None) -> tuple[Any, Any, Any, Any, str]:
        if not name:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), ""
        try:
            exp = open_experiment(name, settings.logs_dir)
        except (RvcError, ValueError) as e:
            raise _fail(e) from e
        c = exp.config
        return c.name, c.sample_rate, c.use_f0, c.version, _experiment_summary(exp, False)

    def refresh_experiments() -> Any:
        return gr.Dropdown(choices=list_experiments(settings.logs_dir))

    def run_preprocess(
        name: str,
        source: str,
        folder: str,
        files: list[str] | None,
        folder_files: list[str] | None,
        segment: str,
        workers: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (the Gradio idiom: injected per event)
    ) -> str:
        from rvc.preprocess import NothingUsableError, PreprocessConfig, collect_uploads, preprocess_dataset

        try:
            exp = open_experiment((name or "").strip(), settings.logs_dir)
            if source == SERVER_FOLDER:
                if not settings.allow_server_paths:
                    raise RvcError(
                        "Server folders are disabled because this app can be reached by others: upload the files "
                        "instead (or start the app with --allow-server-paths)"
                    )
                if not (folder or "").strip():
                    raise RvcError("Type the path of the folder that holds your recordings")
                dataset = Path(folder.strip()).expanduser()
            else:
                uploaded = [*(files or []), *(folder_files or [])]
                dataset = collect_uploads([Path(f) for f in uploaded], exp.paths.uploads)
            config = PreprocessConfig(segment_seconds=float(segment), workers=int(workers) if workers else None)
            progress(0, desc="Starting")
            report = preprocess_dataset(
                exp,
                dataset,
                config,
                on_progress=lambda p: progress((p.done, p.total), desc=f"{p.result.name}", unit="files"),
            )
        except NothingUsableError as e:
            raise _fail(e) from e
        except (RvcError, ValueError) as e:
            raise _fail(e) from e
        return report.summary()

    def method_choices() -> tuple[list[str], str]:
        from rvc.f0 import F0_METHODS, method_status

        statuses = [method_status(m) for m in F0_METHODS]
        ok = [s.method for s in statuses if s.available]
        notes = [f"- **{s.method}** unavailable: {s.reason}" for s in statuses if not s.available]
        return ok, "\n".join(notes)

    def run_extract(
        name: str,
        method: str,
        device: str,
        embedder: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, Any]:
        import pandas as pd

        from rvc.extract import ExtractConfig, extract

        try:
            exp = open_experiment((name or "").strip(), settings.logs_dir)
            custom = (embedder or "").strip()
            if custom and not settings.allow_server_paths:
                raise RvcError("Server paths are disabled because this app can be reached by others")
            config = ExtractConfig(f0_method=method, embedder=Path(custom) if custom else None, device=device)
            progress(0, desc="Loading models")
            report = extract(
                exp,
                config,
                on_progress=lambda p: progress(
                    (p.done, p.total), desc=f"{p.stage}: {p.stem}", unit="bytes" if p.stage == "download" else "pieces"
                ),
            )
        except (RvcError, ValueError) as e:
            raise _fail(e) from e
        plot = pd.DataFrame({"time (s)": [], "F0 (Hz)": []})
        shown = next((p for p in report.pieces if not p.skipped and p.f0_frames), None)
        if shown is not None:
            import numpy as np

            f0 = np.load(exp.paths.f0_hz / f"{shown.stem}.wav.npy")
            t = np.arange(len(f0)) / 100.0
            plot = pd.DataFrame({"time (s)": t, "F0 (Hz)": np.where(f0 > 0, f0, np.nan)})
        return report.summary(), gr.LinePlot(value=plot, title=f"Pitch of piece {shown.stem}" if shown else "No pitch")

    def pretrained_defaults(sample_rate: str, use_f0: bool, version: str) -> tuple[str, str]:
        from rvc import weights

        reg = weights.registry()
        prefix = "f0" if use_f0 else ""
        paths = [
            weights.pretrained_dir()
            / reg[weights.pretrained_name(f"{prefix}{k}{sample_rate}.pth", version)][1][0].local
            for k in "GD"
        ]
        return str(paths[0]), str(paths[1])

    def start_training(
        name: str, batch: float, epochs: float, save_every: float, latest_only: bool, cache_gpu: bool,
        save_small: bool, pre_g: str, pre_d: str, device: str, precision: str,
    ) -> tuple[str, Any]:  # fmt: skip
        from rvc.train import TrainConfig, train

        try:
            exp = open_experiment((name or "").strip(), settings.logs_dir)
            default_g, default_d = pretrained_defaults(exp.config.sample_rate, exp.config.use_f0, exp.config.version)
            custom = [(p or "").strip() for p in (pre_g, pre_d)]
            if custom != [default_g, default_d]:
                if not settings.allow_server_paths:
                    raise RvcError("Server paths are disabled because this app can be reached by others")
                for p in custom:
                    if not p or not Path(p).is_file():
                        raise RvcError(f"Pretrained file not found: {p or '(empty)'}")
            config = TrainConfig(
                epochs=int(epochs), batch_size=int(batch), save_every=int(save_every), latest_only=bool(latest_only),
                save_small=bool(save_small), cache_on_gpu=bool(cache_gpu), device=device, precision=precision,
                pretrained_g=Path(custom[0]) if custom[0] != default_g else None,
                pretrained_d=Path(custom[1]) if custom[1] != default_d else None,
                weights_dir=settings.logs_dir.parent / "weights",
            )  # fmt: skip

            def work(job: Any) -> str:
                def on_progress(p: Any) -> None:
                    if job.progress is None or p.epoch != job.progress.epoch:
                        job.say(f"epoch {p.epoch}/{p.epochs}")
                    job.progress = p

                result = train(exp, config, on_progress=on_progress, stop=job.stop)
                for w in result.warnings:
                    job.say(f"warning: {w}")
                return f"epoch {result.epoch}, step {result.step} (started from {result.started_from}); small model: {result.small_model}"

            jobs.start(exp.name, "training", work)
        except (RvcError, ValueError) as e:
            raise _fail(e) from e
        return f"Training **{exp.name}** started.", gr.Timer(active=True)

    def stop_training(name: str) -> str:
        if jobs.stop((name or "").strip()):
            return "Stopping: the current step finishes and a checkpoint is saved."
        return "No training is running for this experiment."

    def poll_training(name: str) -> tuple[str, str, Any]:
        import pandas as pd

        from rvc.train import read_metrics

        name = (name or "").strip()
        job = jobs.get(name)
        rows = []
        if name:
            try:
                rows = read_metrics(open_experiment(name, settings.logs_dir).paths.root)
            except (RvcError, ValueError):
                rows = []
        series = ("loss_g", "loss_d", "loss_mel", "loss_kl", "loss_fm")
        long = [{"step": r["step"], "value": r[k], "series": k} for r in rows[-2000:] for k in series if k in r]
        plot = pd.DataFrame(long or {"step": [], "value": [], "series": []})
        return _training_status(job, rows), "\n".join(job.log) if job else "", plot

    def run_index(name: str, progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        from rvc.index import train_index

        try:
            exp = open_experiment((name or "").strip(), settings.logs_dir)
            r = train_index(exp, on_progress=lambda m: progress(None, desc=m))
        except (RvcError, ValueError) as e:
            raise _fail(e) from e
        reduced = " (k-means centroids)" if r.kmeans else ""
        return f"Index written: `{r.path.name}`: {r.vectors} vectors{reduced} from {r.rows} feature rows, IVF{r.n_lists}, {r.seconds:.1f} s."

    def list_models() -> list[str]:
        folder = settings.logs_dir.parent / "weights"
        return sorted(str(p) for p in folder.glob("*.pth")) if folder.is_dir() else []

    def list_indexes() -> list[str]:
        root = settings.logs_dir
        return sorted(str(p) for p in root.glob("*/added_*.index")) if root.is_dir() else []

    def run_convert(
        model: str, index: str, audio: str | None, transpose: float, method: str, index_rate: float, radius: float,
        rms: float, protect: float, resample_sr: float, fmt: str, device: str, embedder: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str]:  # fmt: skip
        import tempfile

        from rvc.convert import ConvertConfig, convert_file

        try:
            if not model:
                raise RvcError("Choose a model (train one, or put a .pth in the weights folder)")
            if not audio:
                raise RvcError("Upload or record the audio to convert")
            allowed = set(list_models()) | set(list_indexes())
            for path in (model, index):
                if path and path not in allowed and not settings.allow_server_paths:
                    raise RvcError("Only the models and indexes listed here can be used when the app is shared")
            cfg = ConvertConfig(
                transpose=transpose, f0_method=method, index=Path(index) if index else None, index_rate=index_rate,
                filter_radius=int(radius), rms_mix_rate=rms, protect=protect, resample_sr=int(resample_sr), device=device,
                embedder=Path(embedder.strip()) if (embedder or "").strip() and settings.allow_server_paths else None,
            )  # fmt: skip
            out = Path(tempfile.mkdtemp(prefix="rvc-out-")) / f"{Path(audio).stem}_{Path(model).stem}.{fmt}"
            r = convert_file(Path(model), Path(audio), out, cfg, fmt, on_progress=lambda m: progress(None, desc=m))
        except (RvcError, ValueError) as e:
            raise _fail(e) from e
        t = r.timings
        return (
            f"{r.seconds:.1f} s at {r.sample_rate} Hz in {r.chunks} part(s); pitch {t['pitch']} s, conversion {t['convert']} s.",
            str(r.output),
        )

    cpu = os.cpu_count() or 1
    jobs = JobRegistry()
    with gr.Blocks(title="RVC Studio", delete_cache=(3600, 86400)) as demo:
        gr.Markdown("# RVC Studio\nTrain a voice model from your recordings, then convert audio with it.")
        with gr.Tabs():
            with gr.Tab("Train", id="train"):
                gr.Markdown("### Step 1 · Experiment\nEverything of one voice model lives in `logs/<name>/`.")
                with gr.Row():
                    existing = gr.Dropdown(
                        choices=list_experiments(settings.logs_dir),
                        label="Open an existing experiment",
                        value=None,
                        allow_custom_value=False,
                        elem_id="exp-existing",
                    )
                    refresh = gr.Button("↻", scale=0, min_width=40, elem_id="exp-refresh")
                with gr.Row():
                    exp_name = gr.Textbox(
                        label="Experiment name",
                        placeholder="my-voice",
                        info="letters, digits, - _ . (up to 64)",
                        elem_id="exp-name",
                    )
                    sample_rate = gr.Radio(list(SAMPLE_RATES), value="40k", label="Sample rate", elem_id="exp-sr")
                    use_f0 = gr.Checkbox(
                        value=True,
                        label="Pitch guidance",
                        info="needed for singing; off gives a lighter model",
                        elem_id="exp-f0",
                    )
                    version = gr.Radio(
                        list(VERSIONS), value="v2", label="Version", info="v1: 256-d, v2: 768-d", elem_id="exp-version"
                    )
                create_btn = gr.Button("Create / open experiment", variant="primary", elem_id="exp-create")
                exp_status = gr.Markdown(elem_id="exp-status")

                gr.Markdown(
                    "### Step 2a · Preprocess the dataset\nEvery audio file at the top level of the folder "
                    "(subfolders are not read) is filtered, cut at silences into ~3.7 s pieces and normalised."
                )
                sources = [SERVER_FOLDER, UPLOAD] if settings.allow_server_paths else [UPLOAD]
                source = gr.Radio(sources, value=sources[0], label="Recordings from", elem_id="pp-source")
                folder = gr.Textbox(
                    label="Dataset folder on the server",
                    placeholder="/home/me/voice-dataset",
                    visible=settings.allow_server_paths,
                    elem_id="pp-folder",
                )
                with gr.Row(visible=not settings.allow_server_paths) as upload_row:
                    files = gr.File(file_count="multiple", label="Audio files", elem_id="pp-files")
                    folder_files = gr.File(file_count="directory", label="…or a folder", elem_id="pp-dir")
                with gr.Row():
                    segment = gr.Radio(
                        ["3.7", "3.0"], value="3.7", label="Piece length (s)", info="3.0 for GPUs with ≤ 4 GB"
                    )
                    workers = gr.Slider(1, cpu, value=cpu, step=1, label="Worker processes")
                pp_btn = gr.Button("Preprocess", variant="primary", elem_id="pp-run")
                pp_report = gr.Textbox(label="Report", lines=10, max_lines=30, interactive=False, elem_id="pp-report")

                gr.Markdown(
                    "### Step 2b · Extract pitch and features\nPitch (with pitch guidance) into `2a_f0/` and "
                    "`2b-f0nsf/`, HuBERT features into `3_feature256/` (v1) or `3_feature768/` (v2). Missing "
                    "weights are downloaded on first use; an interrupted run continues where it stopped."
                )
                methods, unavailable = method_choices()
                with gr.Row():
                    f0_method = gr.Radio(
                        methods, value="rmvpe" if "rmvpe" in methods else methods[0], label="Pitch method",
                        info="rmvpe: best for most voices; pm/dio: fastest; harvest: slow, smooth; crepe/fcpe: neural",
                        elem_id="ex-method",
                    )  # fmt: skip
                    device = gr.Radio(["auto", "cpu", "cuda"], value="auto", label="Device", elem_id="ex-device")
                gr.Markdown(unavailable, elem_id="ex-unavailable")
                embedder = gr.Textbox(
                    label="Own HuBERT/ContentVec model (folder or .pt on the server; empty: hubert_base)",
                    visible=settings.allow_server_paths,
                    elem_id="ex-embedder",
                )
                ex_btn = gr.Button("Extract", variant="primary", elem_id="ex-run")
                with gr.Row():
                    ex_report = gr.Textbox(label="Summary", lines=6, interactive=False, elem_id="ex-report")
                    ex_plot = gr.LinePlot(x="time (s)", y="F0 (Hz)", title="Pitch of one piece", elem_id="ex-plot")
                gr.Markdown(
                    "### Step 3 · Train\nStarts from the pretrained G/D for this sample rate, version and pitch "
                    "setting (downloaded when missing; from scratch when unavailable). Training continues in the "
                    "background if you close the page; reopen it to watch. An interrupted run resumes by itself."
                )
                with gr.Row():
                    batch = gr.Slider(1, 40, value=4, step=1, label="Batch size (per GPU)", elem_id="tr-batch")
                    epochs = gr.Slider(1, 1000, value=20, step=1, label="Total epochs", elem_id="tr-epochs")
                    save_every = gr.Slider(1, 100, value=5, step=1, label="Save every N epochs", elem_id="tr-save")
                with gr.Row():
                    latest_only = gr.Checkbox(False, label="Keep only the latest checkpoint")
                    cache_gpu = gr.Checkbox(False, label="Cache the dataset on the GPU")
                    save_small = gr.Checkbox(False, label="Export a small model at each save")
                    tr_device = gr.Radio(["auto", "cpu", "cuda"], value="auto", label="Device")
                    precision = gr.Radio(["fp32", "fp16", "bf16"], value="fp32", label="Precision")
                g0, d0 = pretrained_defaults("40k", True, "v2")
                with gr.Row():
                    pre_g = gr.Textbox(
                        g0, label="Pretrained generator", elem_id="tr-pre-g", interactive=settings.allow_server_paths
                    )
                    pre_d = gr.Textbox(
                        d0,
                        label="Pretrained discriminator",
                        elem_id="tr-pre-d",
                        interactive=settings.allow_server_paths,
                    )
                with gr.Row():
                    train_btn = gr.Button("Train model", variant="primary", elem_id="tr-start")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="tr-stop")
                    index_btn = gr.Button("Train index", elem_id="tr-index")
                    gr.Button("One-click training", interactive=False)
                gr.Markdown("One-click training: " + NOT_BUILT, elem_id="step3-status")
                tr_status = gr.Markdown(elem_id="tr-status")
                with gr.Row():
                    tr_plot = gr.LinePlot(x="step", y="value", color="series", title="Losses", elem_id="tr-plot")
                    tr_log = gr.Textbox(
                        label="Log", lines=12, max_lines=12, autoscroll=True, interactive=False, elem_id="tr-log"
                    )
                timer = gr.Timer(2.0, active=True)
            with gr.Tab("Infer", id="infer"):
                gr.Markdown("### Convert a recording with a trained model")
                with gr.Row():
                    model = gr.Dropdown(
                        list_models(),
                        label="Model (weights/*.pth)",
                        allow_custom_value=settings.allow_server_paths,
                        elem_id="in-model",
                    )
                    index = gr.Dropdown(
                        ["", *list_indexes()],
                        value="",
                        label="Index (optional)",
                        allow_custom_value=settings.allow_server_paths,
                        elem_id="in-index",
                    )
                    in_refresh = gr.Button("↻", scale=0, min_width=40)
                in_audio = gr.Audio(type="filepath", label="Recording to convert", elem_id="in-audio")
                with gr.Row():
                    transpose = gr.Slider(-24, 24, value=0, step=1, label="Transpose (semitones)")
                    in_method = gr.Radio(
                        methods, value="rmvpe" if "rmvpe" in methods else methods[0], label="Pitch method"
                    )
                with gr.Row():
                    index_rate = gr.Slider(0, 1, value=0.75, step=0.05, label="Index rate")
                    filter_radius = gr.Slider(0, 7, value=3, step=1, label="Median filter (harvest)")
                    rms_mix = gr.Slider(0, 1, value=0.25, step=0.05, label="Volume envelope mix")
                    protect = gr.Slider(0, 0.5, value=0.33, step=0.01, label="Protect consonants")
                with gr.Row():
                    resample_sr = gr.Slider(0, 48000, value=0, step=100, label="Output sample rate (0: the model's)")
                    out_format = gr.Radio(["wav", "flac", "mp3", "ogg"], value="wav", label="Format")
                    in_device = gr.Radio(["auto", "cpu", "cuda"], value="auto", label="Device")
                in_embedder = gr.Textbox(
                    label="Own HuBERT/ContentVec model (folder or .pt on the server; empty: hubert_base)",
                    visible=settings.allow_server_paths,
                )
                convert_btn = gr.Button("Convert", variant="primary", elem_id="in-run")
                in_info = gr.Markdown(elem_id="in-info")
                result = gr.Audio(label="Converted", type="filepath", elem_id="in-result")

        create_btn.click(
            create_experiment,
            [exp_name, sample_rate, use_f0, version],
            [exp_status, existing],
            api_name="create_experiment",
        )
        existing.input(
            load_experiment,
            [existing],
            [exp_name, sample_rate, use_f0, version, exp_status],
            api_name="open_experiment",
        )
        refresh.click(refresh_experiments, None, [existing], queue=False, api_visibility="private")
        source.change(
            lambda s: (gr.Textbox(visible=s == SERVER_FOLDER), gr.Row(visible=s != SERVER_FOLDER)),
            [source],
            [folder, upload_row],
            queue=False,
            api_visibility="private",
        )
        pp_btn.click(
            run_preprocess,
            [exp_name, source, folder, files, folder_files, segment, workers],
            [pp_report],
            api_name="preprocess",
            concurrency_id="heavy",
            concurrency_limit=1,
        )
        for choice in (sample_rate, use_f0, version):
            choice.change(
                pretrained_defaults,
                [sample_rate, use_f0, version],
                [pre_g, pre_d],
                queue=False,
                api_visibility="private",
            )
        train_inputs = [
            exp_name,
            batch,
            epochs,
            save_every,
            latest_only,
            cache_gpu,
            save_small,
            pre_g,
            pre_d,
            tr_device,
            precision,
        ]
        train_btn.click(start_training, train_inputs, [tr_status, timer], api_name="train", concurrency_limit=None)
        stop_btn.click(stop_training, [exp_name], [tr_status], api_name="stop_training", queue=False)
        index_btn.click(
            run_index, [exp_name], [tr_status], api_name="train_index", concurrency_id="heavy", concurrency_limit=1
        )
        timer.tick(
            poll_training, [exp_name], [tr_status, tr_log, tr_plot], api_name="training_status", show_progress="hidden"
        )

        def reattach() -> Any:
            running = jobs.running()
            return running[0].key if running else gr.skip()

        demo.load(reattach, None, [exp_name], queue=False, api_visibility="private")
        in_refresh.click(
            lambda: (gr.Dropdown(choices=list_models()), gr.Dropdown(choices=["", *list_indexes()])), None, [model, index],
            queue=False, api_visibility="private",
        )  # fmt: skip
        convert_btn.click(
            run_convert,
            [model, index, in_audio, transpose, in_method, index_rate, filter_radius, rms_mix, protect, resample_sr, out_format, in_device, in_embedder],
            [in_info, result],
            api_name="convert", concurrency_id="heavy", concurrency_limit=1,
        )  # fmt: skip
        ex_btn.click(
            run_extract,
            [exp_name, f0_method, device, embedder],
            [ex_report, ex_plot],
            api_name="extract",
            concurrency_id="heavy",
            concurrency_limit=1,
        )
    return demo


def _training_status(job: Any, rows: list[dict[str, Any]]) -> str:
    import time

    if job is None:
        if rows:
            last = rows[-1]
            return f"No training running in this app. Last logged: epoch {last['epoch']}, step {last['step']}."
        return ""
    p = job.progress
    if job.status != "running":
        return f"Training **{job.status}**: {job.message}"
    if p is None:
        return "Training is starting (loading data and models)…"
    done = p.step - p.first_step
    remaining = (p.epochs - p.epoch) * p.steps_per_epoch + (p.steps_per_epoch - p.epoch_step)
    rate = done / max(time.time() - job.started, 1e-6)
    eta = f", about {remaining / rate / 60:.1f} min left" if done > 1 and rate > 0 else ""
    mel = f", mel loss {p.losses['loss_mel']:.2f}" if "loss_mel" in p.losses else ""
    return f"Training: epoch {p.epoch}/{p.epochs}, step {p.step} ({p.epoch_step}/{p.steps_per_epoch} in this epoch){mel}{eta}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="RVC Studio web app")
    env = os.environ
    # GRADIO_SERVER_NAME/PORT are how Hugging Face Spaces (and Docker setups) tell the app where to listen
    host = env.get("RVC_HOST") or env.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = int(env.get("RVC_PORT") or env.get("GRADIO_SERVER_PORT") or 7860)
    p.add_argument("--host", default=host, help=f"address to listen on (default {host})")
    p.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    p.add_argument("--share", action="store_true", help="also create a temporary public gradio.live link")
    p.add_argument("--auth", default=os.environ.get("RVC_AUTH"), help="user:pass required to open the app ($RVC_AUTH)")
    p.add_argument("--logs-dir", type=Path, default=None, help="experiments folder (default $RVC_LOGS_DIR or ./logs)")
    p.add_argument(
        "--allow-server-paths",
        action="store_true",
        help="let the page read folders on this machine even when others can reach it (shared link, non-local host)",
    )
    args = p.parse_args(argv)
    if args.auth is not None and (":" not in args.auth or args.auth.startswith(":")):
        p.error("--auth must look like user:password")
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = parse_args(argv)
    public = args.share or not _is_loopback(args.host)
    logs_dir = args.logs_dir or default_logs_dir()
    logs_dir.mkdir(parents=True, exist_ok=True)
    settings = AppSettings(logs_dir=logs_dir, allow_server_paths=args.allow_server_paths or not public)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if public and auth is None:
        logger.warning("THIS APP IS OPEN TO ANYONE WHO HAS ITS ADDRESS: start it with --auth user:password")
    demo = build_demo(settings)
    demo.queue(max_size=16, default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        max_file_size="1gb",
        blocked_paths=[str(Path("pretrained").resolve())],
    )


if __name__ == "__main__":
    main()
