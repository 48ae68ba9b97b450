"""RVC Studio web UI: a thin Gradio Blocks layer over the ``rvc`` package.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--auth user:pass] [--logs-dir DIR]
                  [--allow-server-paths]

Every handler here only adapts widgets to a function of ``rvc`` and turns its typed errors into messages on
the page. Long steps run as jobs (``rvc.jobs.registry``) outside the request: the page follows them, and a reload or a
closed tab changes nothing for them. Starting the app imports no torch and loads no model.
"""

from __future__ import annotations

import argparse
import html
import ipaddress
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from rvc.core.config import SAMPLE_RATES, VERSIONS
from rvc.core.errors import RvcError
from rvc.core.experiment import ExperimentConfig, create_or_open, default_logs_dir, list_experiments, open_experiment
from rvc.hub.spaces import SpaceInfo, detect_space
from rvc.jobs.registry import Job, JobRegistry
from rvc.ui.i18n import PT, tr

logger = logging.getLogger("rvc.app")

SERVER_FOLDER = "Folder on the server"
EXAMPLES = 3  # pieces to listen to after Step 2a
UPLOAD = "Upload files or a folder"
I18N = gr.I18n(pt=PT, **{"pt-BR": PT})
L = I18N  # L("English text"): the label in the browser's language (Settings at the page's foot switches it)
# every event that reports to the user reads the page's current language (set by Gradio's i18n) as its last input
# the language switch: Gradio's own, in the Settings panel (it re-translates the page and remembers the choice)
OPEN_LANGUAGE_SETTINGS = (
    "() => { const b = [...document.querySelectorAll('footer button, footer a')]"
    ".find(e => /Settings|Configura/i.test(e.textContent)); if (b) b.click(); }"
)
WITH_LANG = "(...a) => { a[a.length - 1] = document.documentElement.lang || navigator.language || 'en'; return a; }"


@dataclass(frozen=True)
class AppSettings:
    """What the UI needs to know about how it is served."""

    logs_dir: Path
    allow_server_paths: bool = True  # off when others can reach the app, unless asked for
    space: SpaceInfo | None = None  # set on a Hugging Face Space

    @property
    def weights_dir(self) -> Path:
        return self.logs_dir.parent / "weights"


def _fail(e: Exception | str, lang: str = "en") -> gr.Error:
    return gr.Error(tr(str(e), lang), duration=None, title=tr("Error", lang))


def _experiment_summary(exp: Any, created: bool, lang: str) -> str:
    c = exp.config
    verb = tr("Created" if created else "Opened", lang)
    pitch = tr("on" if c.use_f0 else "off", lang)
    return (
        f"{verb} **{c.name}**: {c.sample_rate}, {c.version} ({c.feature_dim}-d), "
        f"{tr('pitch guidance', lang)} {pitch}. `{exp.paths.root}`"
    )


def job_html(job: Job | None, lang: str = "en") -> str:
    """A progress bar with the ETA, the job's state and what it does now."""
    if job is None:
        return ""
    kind = tr(job.kind, lang)
    state = tr(job.status, lang)
    text = f"<b>{html.escape(kind)}</b> · {html.escape(state)}"
    if job.detail and job.active:
        text += f" · {html.escape(tr(job.detail, lang))}"
    eta = job.eta_seconds()
    if eta is not None:
        text += " · " + html.escape(tr("about {m} min left", lang).format(m=f"{eta / 60:.1f}"))
    if job.message and not job.active:
        text += f"<br>{html.escape(tr(job.message, lang))}"
    pct = "" if job.fraction is None else f' value="{job.fraction:.3f}"'
    bar = f'<progress max="1"{pct} style="width:100%"></progress>' if job.active else ""
    return f'<div class="rvc-job" data-status="{job.status}" data-kind="{job.kind}">{bar}<div>{text}</div></div>'


def build_demo(settings: AppSettings) -> gr.Blocks:
    """The whole UI. Handlers are closures over ``settings`` and the job registry."""
    from rvc.steps.tasks import Places, summary_for, work_for

    places = Places(settings.logs_dir, settings.weights_dir)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    jobs = JobRegistry(settings.logs_dir / ".jobs")

    def start_job(name: str, kind: str, params: dict[str, Any], lang: str) -> Job:
        try:
            return jobs.start(name, kind, work_for(kind, params, places), params, summary=summary_for(kind))
        except RvcError as e:
            raise _fail(e, lang) from e

    def follow(job: Job, lang: str) -> Iterator[str]:
        """Yields the job's progress every second until it ends (a closed page stops this, not the job)."""
        while job.active:
            yield job_html(job, lang)
            time.sleep(1.0)
        if job.status == "failed":
            raise _fail(job.message, lang)
        yield job_html(job, lang)

    def experiment(name: str | None, lang: str) -> Any:
        try:
            return open_experiment((name or "").strip(), settings.logs_dir)
        except (RvcError, ValueError) as e:
            raise _fail(e, lang) from e

    def server_path(text: str, what: str, lang: str) -> Path:
        if not settings.allow_server_paths:
            raise _fail(
                "Server paths are disabled because this app can be reached by others: upload the files instead "
                "(or start the app with --allow-server-paths)",
                lang,
            )
        if not (text or "").strip():
            raise _fail(what, lang)
        return Path(text.strip()).expanduser()

    # --- Step 1 ---------------------------------------------------------------------------------------------

    def create_experiment(name: str, sample_rate: str, use_f0: bool, version: str, lang: str) -> tuple[str, Any]:
        try:
            exp, created = create_or_open(
                ExperimentConfig((name or "").strip(), sample_rate, version, bool(use_f0)), settings.logs_dir
            )
        except (RvcError, ValueError) as e:
            raise _fail(e, lang) from e
        choices = list_experiments(settings.logs_dir)
        return _experiment_summary(exp, created, lang), gr.Dropdown(choices=choices, value=exp.name)

    def load_experiment(name: str | None, lang: str) -> tuple[Any, Any, Any, Any, str]:
        if not name:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), ""
        exp = experiment(name, lang)
        c = exp.config
        return c.name, c.sample_rate, c.use_f0, c.version, _experiment_summary(exp, False, lang)

    # --- Step 2a --------------------------------------------------------------------------------------------

    def dataset_folder(exp: Any, source: str, folder: str, files: Any, folder_files: Any, lang: str) -> Path:
        from rvc.steps.preprocess import collect_uploads

        if source == SERVER_FOLDER:
            path = server_path(folder, "Type the path of the folder that holds your recordings", lang)
            if not path.is_dir():
                raise _fail(tr("Dataset folder not found: {p}", lang).format(p=path), lang)
            return path
        uploaded = [*(files or []), *(folder_files or [])]
        try:
            return collect_uploads([Path(f) for f in uploaded], exp.paths.uploads)
        except RvcError as e:
            raise _fail(e, lang) from e

    def run_preprocess(
        name: str, source: str, folder: str, files: Any, folder_files: Any, segment: str, workers: float, lang: str
    ) -> Iterator[tuple[str, str, Any, Any]]:  # fmt: skip
        exp = experiment(name, lang)
        dataset = dataset_folder(exp, source, folder, files, folder_files, lang)
        params = {"name": exp.name, "dataset": str(dataset), "segment": float(segment), "workers": int(workers) or None}
        job = start_job(exp.name, "preprocess", params, lang)
        for status in follow(job, lang):
            yield status, "", gr.skip(), *([gr.skip()] * EXAMPLES)
        if job.status == "done":
            yield (status, *health_outputs(exp, job.result.summary(), lang))
        else:
            yield status, job.message, gr.skip(), *([gr.skip()] * EXAMPLES)

    def health_outputs(exp: Any, summary: str, lang: str) -> tuple[Any, ...]:
        import pandas as pd

        from rvc.steps.tasks import dataset_health

        try:
            h = dataset_health(exp)
        except RvcError:
            return summary, gr.skip(), *([gr.skip()] * EXAMPLES)
        lines = [
            summary,
            tr("Speech kept: {k:.1f} s of {i:.1f} s in {p} pieces", lang).format(
                k=h["kept_seconds"], i=h["input_seconds"], p=h["pieces"]
            ),
            tr("Clipped files: {c} · too quiet pieces (< -40 dBFS): {q} · too short files: {s}", lang).format(
                c=h["clipped_files"], q=h["quiet_pieces"], s=h["short_files"]
            ),
        ]
        bins: dict[float, int] = {}
        for v in h["loudness_db"]:
            b = max(-60.0, float(int(v // 3) * 3))
            bins[b] = bins.get(b, 0) + 1
        frame = pd.DataFrame({"dBFS": list(bins), "pieces": list(bins.values())})
        pieces = [str(p) for p in h["examples"]][:EXAMPLES]
        return "\n".join(lines), frame, *(pieces + [None] * (EXAMPLES - len(pieces)))

    # --- Step 2b --------------------------------------------------------------------------------------------

    def method_choices() -> tuple[list[str], str]:
        from rvc.pitch.methods import F0_METHODS, method_status

        statuses = [method_status(m) for m in F0_METHODS]
        ok = [s.method for s in statuses if s.available]
        notes = [f"- **{s.method}**: {s.reason}" for s in statuses if not s.available]
        return ok, "\n".join(notes)

    def run_extract(name: str, method: str, device: str, embedder: str, lang: str) -> Iterator[tuple[str, str, Any]]:
        exp = experiment(name, lang)
        params: dict[str, Any] = {"name": exp.name, "f0_method": method, "device": device}
        if (embedder or "").strip():
            params["embedder"] = str(server_path(embedder, "", lang))
        job = start_job(exp.name, "extract", params, lang)
        for status in follow(job, lang):
            yield status, "", gr.skip()
        if job.status != "done":
            yield status, job.message, gr.skip()
            return
        yield status, job.result.summary(), pitch_plot(exp, job.result)

    def pitch_plot(exp: Any, report: Any) -> Any:
        import numpy as np
        import pandas as pd

        shown = next((p for p in report.pieces if not p.skipped and p.f0_frames), None)
        if shown is None:
            return gr.LinePlot(value=pd.DataFrame({"time (s)": [], "F0 (Hz)": []}))
        f0 = np.load(exp.paths.f0_hz / f"{shown.stem}.wav.npy")
        frame = pd.DataFrame({"time (s)": np.arange(len(f0)) / 100.0, "F0 (Hz)": np.where(f0 > 0, f0, np.nan)})
        return gr.LinePlot(value=frame, title=f"F0 · {shown.stem}")

    # --- Step 3 ---------------------------------------------------------------------------------------------

    def pretrained_defaults(sample_rate: str, use_f0: bool, version: str) -> tuple[str, str]:
        from rvc.hub import weights

        reg = weights.registry()
        prefix = "f0" if use_f0 else ""
        paths = [
            weights.pretrained_dir()
            / reg[weights.pretrained_name(f"{prefix}{k}{sample_rate}.pth", version)][1][0].local
            for k in "GD"
        ]
        return str(paths[0]), str(paths[1])

    def train_params(
        exp: Any, batch: float, epochs: float, save_every: float, latest_only: bool, cache_gpu: bool,
        save_small: bool, pre_g: str, pre_d: str, device: str, precision: str, compile_: bool, lang: str,
    ) -> dict[str, Any]:  # fmt: skip
        default_g, default_d = pretrained_defaults(exp.config.sample_rate, exp.config.use_f0, exp.config.version)
        params: dict[str, Any] = {
            "name": exp.name, "epochs": int(epochs), "batch_size": int(batch), "save_every": int(save_every),
            "latest_only": bool(latest_only), "save_small": bool(save_small), "cache_on_gpu": bool(cache_gpu),
            "device": device, "precision": precision, "compile": bool(compile_),
        }  # fmt: skip
        custom = [(p or "").strip() for p in (pre_g, pre_d)]
        if custom != [default_g, default_d] and any(custom):  # both empty: the defaults
            for p, key in zip(custom, ("pretrained_g", "pretrained_d"), strict=True):
                path = server_path(p, "Pretrained file not found: (empty)", lang)
                if not path.is_file():
                    raise _fail(tr("Pretrained file not found: {p}", lang).format(p=p), lang)
                params[key] = str(path)
        return params

    def start_training(name: str, *values: Any) -> tuple[str, Any]:
        lang = values[-1]
        exp = experiment(name, lang)
        start_job(exp.name, "train", train_params(exp, *values), lang)
        return tr("Training **{name}** started.", lang).format(name=exp.name), gr.Timer(active=True)

    def stop_job(name: str, lang: str) -> str:
        if jobs.stop((name or "").strip()):
            return tr("Stopping: the current step finishes and a checkpoint is saved.", lang)
        return tr("No job is running for this experiment.", lang)

    def run_index(name: str, lang: str) -> Iterator[str]:
        exp = experiment(name, lang)
        job = start_job(exp.name, "index", {"name": exp.name}, lang)
        yield from follow(job, lang)

    def run_one_click(
        name: str, sample_rate: str, use_f0: bool, version: str, source: str, folder: str, files: Any,
        folder_files: Any, segment: str, workers: float, method: str, device: str, embedder: str, *train: Any,
    ) -> Iterator[tuple[str, Any]]:  # fmt: skip
        lang = train[-1]
        try:
            exp, _ = create_or_open(
                ExperimentConfig((name or "").strip(), sample_rate, version, bool(use_f0)), settings.logs_dir
            )
        except (RvcError, ValueError) as e:
            raise _fail(e, lang) from e
        dataset = dataset_folder(exp, source, folder, files, folder_files, lang)
        params = train_params(exp, *train)
        params.update(
            sample_rate=sample_rate, version=version, use_f0=bool(use_f0), dataset=str(dataset),
            segment=float(segment), workers=int(workers) or None, f0_method=method,
        )  # fmt: skip
        params["device"] = device if device != "auto" else params["device"]
        if (embedder or "").strip():
            params["embedder"] = str(server_path(embedder, "", lang))
        job = start_job(exp.name, "one-click", params, lang)
        yield job_html(job, lang), gr.Timer(active=True)
        for status in follow(job, lang):
            yield status, gr.skip()

    def poll(name: str, lang: str) -> tuple[str, str, str, Any, str]:
        """What the page shows of the experiment's newest job, its losses and its model card."""
        import pandas as pd

        from rvc.steps.train.metrics import read_metrics

        name = (name or "").strip()
        job = jobs.get(name) if name else None
        rows: list[dict[str, Any]] = []
        card = ""
        if name:
            try:
                exp = open_experiment(name, settings.logs_dir)
                rows = read_metrics(exp.paths.root)
                card = model_card(exp.name, lang)[0]
            except (RvcError, ValueError):
                rows = []
        series = ("loss_g", "loss_d", "loss_mel", "loss_kl", "loss_fm", "lr")
        long = [
            {"step": r["step"], "value": r[k] * (1e4 if k == "lr" else 1), "series": "lr ×1e4" if k == "lr" else k}
            for r in rows[-2000:]
            for k in series
            if k in r
        ]
        plot = pd.DataFrame(long or {"step": [], "value": [], "series": []})
        log = "\n".join(job.log) if job else ""
        return job_html(job, lang), training_text(job, rows, lang), log, plot, card

    def model_card(name: str, lang: str) -> tuple[str, Any]:
        from rvc.core.experiment import validate_name
        from rvc.models.package import read_card

        try:
            validate_name(name)
        except RvcError:
            return "", None
        model = settings.weights_dir / f"{name}.pth"
        if not model.is_file():
            return "", None
        try:
            card = read_card(model)
        except RvcError:
            return "", None
        package = model.with_suffix(".zip")
        text = f"**{tr('Model', lang)}** `{model.name}`: {card.summary()}"
        if package.is_file():  # the text changes when the zip appears, which sends it (see card.change)
            text += f" · `{package.name}`"
        return text, str(package) if package.is_file() else None

    def package_model(name: str, lang: str) -> tuple[str, Any]:
        from rvc.models.package import export_package

        exp = experiment(name, lang)
        model = settings.weights_dir / f"{exp.name}.pth"
        if not model.is_file():
            raise _fail("No model yet: train it first (Step 3)", lang)
        found = sorted(exp.paths.root.glob(f"added_IVF*_{exp.name}_{exp.config.version}.index"))
        try:
            package = export_package(model, found[0] if found else None)
        except RvcError as e:
            raise _fail(e, lang) from e
        return model_card(exp.name, lang)[0], str(package)

    # --- Jobs tab -------------------------------------------------------------------------------------------

    def jobs_table(lang: str) -> Any:
        import pandas as pd

        rows = []
        for j in jobs.all()[:100]:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created))
            frac = "" if j.fraction is None else f"{j.fraction:.0%}"
            rows.append(
                [j.id, j.key, tr(j.kind, lang), tr(j.status, lang), frac, when, tr(j.message or j.detail, lang)]
            )
        cols = ["id", tr("experiment", lang), tr("job", lang), tr("state", lang), "%", tr("created", lang), ""]
        return pd.DataFrame(rows, columns=cols)

    def resume_job(job_id: str, lang: str) -> tuple[str, Any]:
        old = jobs.by_id((job_id or "").strip())
        try:
            if old is None:
                raise RvcError("Choose an interrupted job (its id) to resume")
            job = jobs.resume(old.id, work_for(old.kind, old.params, places), summary_for(old.kind))
        except RvcError as e:
            raise _fail(e, lang) from e
        return tr("Resumed {kind} for {name}", lang).format(kind=tr(job.kind, lang), name=job.key), jobs_table(lang)

    def stop_by_id(job_id: str, lang: str) -> tuple[str, Any]:
        job = jobs.by_id((job_id or "").strip())
        if job is None or not job.active:
            return tr("No job is running for this experiment.", lang), jobs_table(lang)
        jobs.stop(job.key)
        return tr("Stopping: the current step finishes and a checkpoint is saved.", lang), jobs_table(lang)

    # --- Infer tab ------------------------------------------------------------------------------------------

    def list_models() -> list[str]:
        folder = settings.weights_dir
        return sorted(str(p) for p in folder.glob("*.pth")) if folder.is_dir() else []

    def list_indexes() -> list[str]:
        found = list(settings.logs_dir.glob("*/added_*.index")) if settings.logs_dir.is_dir() else []
        found += list(settings.weights_dir.glob("*.index")) if settings.weights_dir.is_dir() else []
        return sorted(str(p) for p in found)

    def matching_index(model: str) -> str:
        """The index made with the model: by the experiment's name in the index's file name."""
        stem = Path(model).stem.split("_e")[0] if model else ""
        hits = [i for i in list_indexes() if stem and (f"_{stem}_v" in Path(i).name or Path(i).stem == stem)]
        return hits[0] if hits else ""

    def choose_model(model: str, lang: str) -> tuple[str, Any]:
        from rvc.models.package import read_card

        if not model:
            return "", gr.skip()
        try:
            card = read_card(Path(model)).summary()
        except RvcError as e:
            card = f"⚠ {tr(str(e), lang)}"
        return card, gr.Dropdown(choices=["", *list_indexes()], value=matching_index(model))

    def import_model(archive: str | None, lang: str) -> tuple[str, Any, Any]:
        from rvc.models.package import import_package

        if not archive:
            raise _fail("Upload a model .zip (or a .pth) first", lang)
        try:
            got = import_package(Path(archive), settings.weights_dir)
        except RvcError as e:
            raise _fail(e, lang) from e
        return (
            f"{tr('Imported', lang)}: {got.card.summary()}",
            gr.Dropdown(choices=list_models(), value=str(got.model)),
            gr.Dropdown(choices=["", *list_indexes()], value=str(got.index) if got.index else ""),
        )

    def convert_config(
        model: str, index: str, transpose: float, method: str, index_rate: float, radius: float, rms: float,
        protect: float, resample_sr: float, device: str, embedder: str,
    ) -> Any:  # fmt: skip
        """The conversion settings of the Infer tab, with the model and index checked (raises RvcError)."""
        from rvc.inference.convert import ConvertConfig

        if not model:
            raise RvcError("Choose a model (train one, or import a .zip or .pth)")
        allowed = set(list_models()) | set(list_indexes())
        for path in (model, index):
            if path and path not in allowed and not settings.allow_server_paths:
                raise RvcError("Only the models and indexes listed here can be used when the app is shared")
        own = (embedder or "").strip()
        return ConvertConfig(
            transpose=transpose, f0_method=method, index=Path(index) if index else None, index_rate=index_rate,
            filter_radius=int(radius), rms_mix_rate=rms, protect=protect, resample_sr=int(resample_sr), device=device,
            embedder=Path(own) if own and settings.allow_server_paths else None,
        )  # fmt: skip

    def run_convert(
        model: str, index: str, audio: str | None, transpose: float, method: str, index_rate: float, radius: float,
        rms: float, protect: float, resample_sr: float, fmt: str, device: str, embedder: str, lang: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str]:  # fmt: skip
        from rvc.inference.convert import convert_file

        try:
            cfg = convert_config(
                model, index, transpose, method, index_rate, radius, rms, protect, resample_sr, device, embedder
            )
            if not audio:
                raise RvcError("Upload or record the audio to convert")
            out = Path(tempfile.mkdtemp(prefix="rvc-out-")) / f"{Path(audio).stem}_{Path(model).stem}.{fmt}"
            r = convert_file(Path(model), Path(audio), out, cfg, fmt, on_progress=lambda m: progress(None, desc=m))
        except (RvcError, ValueError) as e:
            raise _fail(e, lang) from e
        t = r.timings
        text = tr("{s:.1f} s at {sr} Hz in {n} part(s). Time: pitch {p} s, conversion {c} s, total {t} s.", lang)
        return text.format(s=r.seconds, sr=r.sample_rate, n=r.chunks, p=t["pitch"], c=t["convert"], t=t["total"]), str(
            r.output
        )

    def run_convert_many(
        model: str, index: str, files: list[str] | None, transpose: float, method: str, index_rate: float,
        radius: float, rms: float, protect: float, resample_sr: float, fmt: str, device: str, embedder: str, lang: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, list[str]]:  # fmt: skip
        """Batch mode: every uploaded file converted with one loading of the model; files that are not audio are
        listed and skipped. Returns the report and the converted files (a zip of them first, when several)."""
        from rvc.inference.convert import convert_files

        work = Path(tempfile.mkdtemp(prefix="rvc-batch-"))
        try:
            cfg = convert_config(
                model, index, transpose, method, index_rate, radius, rms, protect, resample_sr, device, embedder
            )
            if not files:
                raise RvcError("Upload the recordings to convert")
            items = convert_files(
                Path(model), [Path(f) for f in files], work, cfg, fmt, on_progress=lambda m: progress(None, desc=m)
            )
        except (RvcError, ValueError) as e:
            shutil.rmtree(work, ignore_errors=True)
            raise _fail(e, lang) from e
        done = [i for i in items if i.result is not None]
        outputs = [str(i.result.output) for i in done]
        seconds = sum(i.result.seconds for i in done)
        lines = [
            tr("Converted {n} of {m} files ({s:.1f} s of audio).", lang).format(n=len(done), m=len(items), s=seconds)
        ]
        lines += [f"- ⚠ {i.source.name}: {tr(i.error, lang)}" for i in items if i.result is None]
        if len(outputs) > 1:
            archive = work / f"converted_{Path(model).stem}.zip"
            with zipfile.ZipFile(archive, "w") as z:
                for o in outputs:
                    z.write(o, Path(o).name)
            outputs.insert(0, str(archive))
        return "\n".join(lines), outputs

    # --- layout ---------------------------------------------------------------------------------------------

    def embedder_box(elem_id: str) -> gr.Textbox:
        """Own HuBERT/ContentVec model: a server path, so shown only where server paths are allowed."""
        return gr.Textbox(
            label=L("Own HuBERT/ContentVec model (folder or .pt on the server; empty: hubert_base)"),
            visible=settings.allow_server_paths,
            elem_id=elem_id,
        )

    cpu = os.cpu_count() or 1
    methods, unavailable = method_choices()
    default_method = "rmvpe" if "rmvpe" in methods else methods[0]
    with gr.Blocks(title="RVC Studio", delete_cache=(3600, 86400)) as demo:
        lang = gr.Textbox("en", visible=False, elem_id="ui-lang")
        gr.Markdown(L("# RVC Studio\nTrain a voice model from your recordings, then convert audio with it."))
        with gr.Row():
            gr.Markdown(L("Language: Settings, at the foot of the page."), elem_id="lang-note")
            gr.Button("🌐 English · Português", scale=0, size="sm", elem_id="lang-switch").click(
                None, js=OPEN_LANGUAGE_SETTINGS
            )
        if settings.space is not None:
            gr.Markdown(settings.space.notice(), elem_id="space-note")
        jobs_banner = gr.Markdown(elem_id="jobs-banner")
        with gr.Tabs():
            with gr.Tab(L("Train"), id="train"):
                gr.Markdown(L("### Step 1 · Experiment\nEverything of one voice model lives in `logs/<name>/`."))
                with gr.Row():
                    existing = gr.Dropdown(
                        choices=list_experiments(settings.logs_dir),
                        label=L("Open an existing experiment"),
                        value=None,
                        allow_custom_value=True,  # experiments made after the page loaded (names are validated)
                        elem_id="exp-existing",
                    )
                    refresh = gr.Button("↻", scale=0, min_width=40, elem_id="exp-refresh")
                with gr.Row():
                    exp_name = gr.Textbox(
                        label=L("Experiment name"),
                        placeholder="my-voice",
                        info=L("letters, digits, - _ . (up to 64)"),
                        elem_id="exp-name",
                    )
                    sample_rate = gr.Radio(list(SAMPLE_RATES), value="40k", label=L("Sample rate"), elem_id="exp-sr")
                    use_f0 = gr.Checkbox(
                        value=True,
                        label=L("Pitch guidance"),
                        info=L("needed for singing; off gives a lighter model"),
                        elem_id="exp-f0",
                    )
                    version = gr.Radio(
                        list(VERSIONS),
                        value="v2",
                        label=L("Version"),
                        info="v1: 256-d, v2: 768-d",
                        elem_id="exp-version",
                    )
                create_btn = gr.Button(L("Create / open experiment"), variant="primary", elem_id="exp-create")
                exp_status = gr.Markdown(elem_id="exp-status")

                gr.Markdown(
                    L(
                        "### Step 2a · Preprocess the dataset\nEvery audio file at the top level of the folder "
                        "(subfolders are not read) is filtered, cut at silences into ~3.7 s pieces and normalised."
                    )
                )
                sources = [SERVER_FOLDER, UPLOAD] if settings.allow_server_paths else [UPLOAD]
                source = gr.Radio(
                    [(L(s), s) for s in sources], value=sources[0], label=L("Recordings from"), elem_id="pp-source"
                )
                folder = gr.Textbox(
                    label=L("Dataset folder on the server"),
                    placeholder="/home/me/voice-dataset",
                    visible=settings.allow_server_paths,
                    elem_id="pp-folder",
                )
                with gr.Row(visible=not settings.allow_server_paths) as upload_row:
                    files = gr.File(file_count="multiple", label=L("Audio files"), elem_id="pp-files")
                    folder_files = gr.File(file_count="directory", label=L("…or a folder"), elem_id="pp-dir")
                with gr.Row():
                    segment = gr.Radio(
                        ["3.7", "3.0"], value="3.7", label=L("Piece length (s)"), info=L("3.0 for GPUs with ≤ 4 GB")
                    )
                    workers = gr.Slider(1, cpu, value=cpu, step=1, label=L("Worker processes"))
                pp_btn = gr.Button(L("Preprocess"), variant="primary", elem_id="pp-run")
                pp_status = gr.HTML(elem_id="pp-status")
                with gr.Row():
                    pp_report = gr.Textbox(
                        label=L("Dataset health"), lines=8, max_lines=30, interactive=False, elem_id="pp-report"
                    )
                    pp_hist = gr.BarPlot(x="dBFS", y="pieces", title=L("Loudness of the pieces"), elem_id="pp-hist")
                with gr.Row(elem_id="pp-examples"):
                    pp_examples = [
                        gr.Audio(label=L(which), type="filepath", interactive=False, elem_id=f"pp-example-{i}")
                        for i, which in enumerate(("Loudest piece", "A middle piece", "Quietest piece"))
                    ]

                gr.Markdown(
                    L(
                        "### Step 2b · Extract pitch and features\nPitch (with pitch guidance) into `2a_f0/` and "
                        "`2b-f0nsf/`, HuBERT features into `3_feature256/` (v1) or `3_feature768/` (v2). Missing "
                        "weights are downloaded on first use; an interrupted run continues where it stopped."
                    )
                )
                with gr.Row():
                    f0_method = gr.Radio(
                        methods, value=default_method, label=L("Pitch method"),
                        info=L("rmvpe: best for most voices; pm/dio: fastest; harvest: slow, smooth; crepe/fcpe: neural"),
                        elem_id="ex-method",
                    )  # fmt: skip
                    device = gr.Radio(["auto", "cpu", "cuda"], value="auto", label=L("Device"), elem_id="ex-device")
                gr.Markdown(unavailable, elem_id="ex-unavailable")
                embedder = embedder_box("ex-embedder")
                ex_btn = gr.Button(L("Extract"), variant="primary", elem_id="ex-run")
                ex_status = gr.HTML(elem_id="ex-status")
                with gr.Row():
                    ex_report = gr.Textbox(label=L("Summary"), lines=6, interactive=False, elem_id="ex-report")
                    ex_plot = gr.LinePlot(x="time (s)", y="F0 (Hz)", title=L("Pitch of one piece"), elem_id="ex-plot")

                gr.Markdown(
                    L(
                        "### Step 3 · Train\nStarts from the pretrained G/D for this sample rate, version and pitch "
                        "setting (downloaded when missing; from scratch when unavailable). Training continues in the "
                        "background if you close the page; reopen it to watch. An interrupted run resumes by itself."
                    )
                )
                with gr.Row():
                    batch = gr.Slider(1, 40, value=4, step=1, label=L("Batch size (per GPU)"), elem_id="tr-batch")
                    epochs = gr.Slider(1, 1000, value=20, step=1, label=L("Total epochs"), elem_id="tr-epochs")
                    save_every = gr.Slider(1, 100, value=5, step=1, label=L("Save every N epochs"), elem_id="tr-save")
                with gr.Row():
                    latest_only = gr.Checkbox(False, label=L("Keep only the latest checkpoint"))
                    cache_gpu = gr.Checkbox(False, label=L("Cache the dataset on the GPU"))
                    save_small = gr.Checkbox(False, label=L("Export a small model at each save"))
                    tr_device = gr.Radio(["auto", "cpu", "cuda"], value="auto", label=L("Device"))
                    precision = gr.Radio(
                        ["fp32", "fp16", "bf16"],
                        value="fp32",
                        label=L("Precision"),
                        info=L("fp16/bf16: GPU; bf16 also on CPUs with AVX-512 BF16 or AMX (about 1.5× faster)"),
                    )
                    compile_ = gr.Checkbox(False, label=L("Compile the model (GPU: faster steps, slow first step)"))
                g0, d0 = pretrained_defaults("40k", True, "v2")
                with gr.Row():
                    pre_g = gr.Textbox(
                        g0, label=L("Pretrained generator"), elem_id="tr-pre-g", interactive=settings.allow_server_paths
                    )
                    pre_d = gr.Textbox(
                        d0,
                        label=L("Pretrained discriminator"),
                        elem_id="tr-pre-d",
                        interactive=settings.allow_server_paths,
                    )
                with gr.Row():
                    train_btn = gr.Button(L("Train model"), variant="primary", elem_id="tr-start")
                    stop_btn = gr.Button(L("Stop"), variant="stop", elem_id="tr-stop")
                    index_btn = gr.Button(L("Train index"), elem_id="tr-index")
                    one_btn = gr.Button(L("One-click training"), variant="primary", elem_id="tr-one-click")
                gr.Markdown(
                    L(
                        "One-click training runs Steps 2a, 2b and 3, the index and the model zip with the settings "
                        "above; a second run skips what is up to date."
                    ),
                    elem_id="step3-status",
                )
                job_status = gr.HTML(elem_id="job-status")
                tr_status = gr.Markdown(elem_id="tr-status")
                with gr.Row():
                    tr_plot = gr.LinePlot(x="step", y="value", color="series", title=L("Losses"), elem_id="tr-plot")
                    tr_log = gr.Textbox(
                        label=L("Log"), lines=12, max_lines=12, autoscroll=True, interactive=False, elem_id="tr-log"
                    )
                with gr.Row():
                    card = gr.Markdown(elem_id="tr-card")
                    zip_btn = gr.Button(L("Make the model zip"), scale=0, elem_id="tr-zip")
                    package = gr.File(label=L("Model zip (model + index)"), elem_id="tr-package", interactive=False)
                timer = gr.Timer(2.0, active=True)

            with gr.Tab(L("Infer"), id="infer") as infer_tab:
                gr.Markdown(L("### Convert a recording with a trained model"))
                with gr.Row():
                    model = gr.Dropdown(
                        list_models(),
                        label=L("Model (weights/*.pth)"),
                        allow_custom_value=settings.allow_server_paths,
                        elem_id="in-model",
                    )
                    index = gr.Dropdown(
                        ["", *list_indexes()],
                        value="",
                        label=L("Index (optional)"),
                        allow_custom_value=settings.allow_server_paths,
                        elem_id="in-index",
                    )
                    in_refresh = gr.Button("↻", scale=0, min_width=40)
                in_card = gr.Markdown(elem_id="in-card")
                with gr.Accordion(L("Import a model (.zip with .pth and .index, or a .pth)"), open=False):
                    upload_model = gr.File(file_types=[".zip", ".pth"], label=L("Model file"), elem_id="in-upload")
                    import_btn = gr.Button(L("Import"), elem_id="in-import")
                in_audio = gr.Audio(type="filepath", label=L("Recording to convert"), elem_id="in-audio")
                with gr.Row():
                    transpose = gr.Slider(-24, 24, value=0, step=1, label=L("Transpose (semitones)"))
                    in_method = gr.Radio(methods, value=default_method, label=L("Pitch method"), elem_id="in-method")
                with gr.Row():
                    index_rate = gr.Slider(0, 1, value=0.75, step=0.05, label=L("Index rate"))
                    filter_radius = gr.Slider(0, 7, value=3, step=1, label=L("Median filter (harvest)"))
                    rms_mix = gr.Slider(0, 1, value=0.25, step=0.05, label=L("Volume envelope mix"))
                    protect = gr.Slider(0, 0.5, value=0.33, step=0.01, label=L("Protect consonants"))
                with gr.Row():
                    resample_sr = gr.Slider(0, 48000, value=0, step=100, label=L("Output sample rate (0: the model's)"))
                    out_format = gr.Radio(["wav", "flac", "mp3", "ogg"], value="wav", label=L("Format"))
                    in_device = gr.Radio(["auto", "cpu", "cuda"], value="auto", label=L("Device"), elem_id="in-device")
                in_embedder = embedder_box("in-embedder")
                convert_btn = gr.Button(L("Convert"), variant="primary", elem_id="in-run")
                in_info = gr.Markdown(elem_id="in-info")
                result = gr.Audio(label=L("Converted"), type="filepath", elem_id="in-result")
                with gr.Accordion(L("Convert several files at once (same settings)"), open=False):
                    batch_files = gr.File(
                        file_count="multiple", type="filepath", label=L("Recordings"), elem_id="in-batch-files"
                    )
                    batch_btn = gr.Button(L("Convert all"), elem_id="in-batch-run")
                    batch_info = gr.Markdown(elem_id="in-batch-info")
                    batch_out = gr.File(
                        file_count="multiple", label=L("Converted files"), interactive=False, elem_id="in-batch-out"
                    )

            with gr.Tab(L("Jobs"), id="jobs"):
                gr.Markdown(
                    L(
                        "Every long job of this app: running, queued (one heavy job runs at a time), finished, and "
                        "those the app was stopped in (resume them: each continues where it stopped)."
                    )
                )
                jobs_df = gr.Dataframe(jobs_table("en"), interactive=False, wrap=True, elem_id="jobs-table")
                with gr.Row():
                    job_id = gr.Textbox(label=L("Job id"), elem_id="jobs-id")
                    resume_btn = gr.Button(L("Resume"), elem_id="jobs-resume")
                    jstop_btn = gr.Button(L("Stop"), variant="stop", elem_id="jobs-stop")
                jobs_msg = gr.Markdown(elem_id="jobs-msg")
                jobs_timer = gr.Timer(3.0, active=True)

        # --- events -----------------------------------------------------------------------------------------

        def on(event: Any, fn: Any, inputs: list[Any], outputs: list[Any], **kw: Any) -> Any:
            """Wires an event whose handler reports to the user: the page language goes in as the last input."""
            return event(fn, [*inputs, lang], outputs, js=WITH_LANG, **kw)

        on(create_btn.click, create_experiment, [exp_name, sample_rate, use_f0, version], [exp_status, existing],
           api_name="create_experiment")  # fmt: skip
        on(existing.input, load_experiment, [existing], [exp_name, sample_rate, use_f0, version, exp_status],
           api_name="open_experiment")  # fmt: skip
        for event in (refresh.click, demo.load):
            event(
                lambda: gr.Dropdown(choices=list_experiments(settings.logs_dir)),
                None,
                [existing],
                queue=False,
                api_visibility="private",
            )
        source.change(
            lambda s: (gr.Textbox(visible=s == SERVER_FOLDER), gr.Row(visible=s != SERVER_FOLDER)),
            [source],
            [folder, upload_row],
            queue=False,
            api_visibility="private",
        )
        dataset_inputs = [source, folder, files, folder_files, segment, workers]
        on(pp_btn.click, run_preprocess, [exp_name, *dataset_inputs], [pp_status, pp_report, pp_hist, *pp_examples],
           api_name="preprocess", concurrency_limit=None)  # fmt: skip
        on(ex_btn.click, run_extract, [exp_name, f0_method, device, embedder], [ex_status, ex_report, ex_plot],
           api_name="extract", concurrency_limit=None)  # fmt: skip
        for choice in (sample_rate, use_f0, version):
            choice.change(
                pretrained_defaults, [sample_rate, use_f0, version], [pre_g, pre_d], queue=False,
                api_visibility="private",
            )  # fmt: skip
        train_inputs = [
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
            compile_,
        ]
        on(train_btn.click, start_training, [exp_name, *train_inputs], [tr_status, timer], api_name="train",
           concurrency_limit=None)  # fmt: skip
        on(stop_btn.click, stop_job, [exp_name], [tr_status], api_name="stop_training", queue=False)
        on(index_btn.click, run_index, [exp_name], [job_status], api_name="train_index", concurrency_limit=None)
        on(one_btn.click, run_one_click,
           [exp_name, sample_rate, use_f0, version, *dataset_inputs, f0_method, device, embedder, *train_inputs],
           [job_status, timer], api_name="one_click", concurrency_limit=None)  # fmt: skip
        on(timer.tick, poll, [exp_name], [job_status, tr_status, tr_log, tr_plot, card],
           api_name="training_status", show_progress="hidden", queue=False)  # fmt: skip
        # the zip is copied for download each time it is sent: only when the card (epochs, steps) changes
        on(card.change, lambda n, la: model_card((n or "").strip(), la)[1], [exp_name], [package],
           show_progress="hidden", queue=False, api_visibility="private")  # fmt: skip
        on(zip_btn.click, package_model, [exp_name], [card, package], api_name="package_model")
        on(jobs_timer.tick, jobs_table, [], [jobs_df], api_name="jobs", show_progress="hidden", queue=False)
        on(resume_btn.click, resume_job, [job_id], [jobs_msg, jobs_df], api_name="resume_job", queue=False)
        on(jstop_btn.click, stop_by_id, [job_id], [jobs_msg, jobs_df], api_name="stop_job", queue=False)

        def reattach() -> Any:
            active = jobs.running()
            return active[0].key if active else gr.skip()

        demo.load(reattach, None, [exp_name], queue=False, api_visibility="private")

        def interrupted(lang: str) -> str:
            found = [f"{tr(j.kind, lang)} ({j.key})" for j in jobs.all() if j.status == "interrupted"]
            if not found:
                return ""
            return "⚠ " + tr("Interrupted jobs: {jobs}. Open the Jobs tab to resume them.", lang).format(
                jobs=", ".join(found[:5])
            )

        on(demo.load, interrupted, [], [jobs_banner], queue=False, api_visibility="private")

        def refresh_lists() -> tuple[Any, Any]:
            return gr.Dropdown(choices=list_models()), gr.Dropdown(choices=["", *list_indexes()])

        for event in (in_refresh.click, infer_tab.select):  # models trained since the page loaded appear
            event(refresh_lists, None, [model, index], queue=False, api_visibility="private")
        on(model.change, choose_model, [model], [in_card, index], api_name="model_card", queue=False)
        on(import_btn.click, import_model, [upload_model], [in_card, model, index], api_name="import_model")
        on(convert_btn.click, run_convert,
           [model, index, in_audio, transpose, in_method, index_rate, filter_radius, rms_mix, protect, resample_sr,
            out_format, in_device, in_embedder],
           [in_info, result], api_name="convert", concurrency_id="heavy", concurrency_limit=1)  # fmt: skip
        on(batch_btn.click, run_convert_many,
           [model, index, batch_files, transpose, in_method, index_rate, filter_radius, rms_mix, protect, resample_sr,
            out_format, in_device, in_embedder],
           [batch_info, batch_out], api_name="convert_batch", concurrency_id="heavy", concurrency_limit=1)  # fmt: skip
    return demo


def training_text(job: Job | None, rows: list[dict[str, Any]], lang: str = "en") -> str:
    """One line on the training: epoch, step, mel loss and ETA while it runs; how it ended after."""
    if job is None or job.kind not in ("train", "one-click"):
        if rows:
            last = rows[-1]
            return tr("No training running in this app. Last logged: epoch {e}, step {s}.", lang).format(
                e=last["epoch"], s=last["step"]
            )
        return ""
    p = job.progress
    if not job.active:
        return tr("Training **{status}**: {message}", lang).format(status=tr(job.status, lang), message=job.message)
    if p is None:
        return tr("Training is starting…", lang) if job.kind == "train" else ""
    eta = job.eta_seconds()
    mel = f", mel {p.losses['loss_mel']:.2f}" if "loss_mel" in p.losses else ""
    left = tr(", about {m} min left", lang).format(m=f"{eta / 60:.1f}") if eta is not None else ""
    gpu = f", GPU {rows[-1]['gpu_peak_gb']:.1f} GB" if rows and "gpu_peak_gb" in rows[-1] else ""  # peak so far
    return (
        tr("Training: epoch {e}/{n}, step {s} ({i}/{k} in this epoch)", lang).format(
            e=p.epoch, n=p.epochs, s=p.step, i=p.epoch_step, k=p.steps_per_epoch
        )
        + f"{mel}{gpu}{left}"
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="RVC Studio web app")
    env = os.environ
    space = detect_space()
    # GRADIO_SERVER_NAME/PORT are how Hugging Face Spaces (and Docker setups) tell the app where to listen
    default_host = "0.0.0.0" if space else "127.0.0.1"
    host = env.get("RVC_HOST") or env.get("GRADIO_SERVER_NAME") or default_host
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


def settings_from(args: argparse.Namespace) -> tuple[AppSettings, bool]:
    """The app's settings for these arguments and environment, and whether others can reach it."""
    space = detect_space()
    public = bool(args.share or space or not _is_loopback(args.host))
    logs_dir = args.logs_dir or (space.logs_dir if space else None) or default_logs_dir()
    allow = bool(args.allow_server_paths or not public)
    return AppSettings(logs_dir=Path(logs_dir), allow_server_paths=allow, space=space), public


def launch_options(settings: AppSettings) -> dict[str, Any]:
    """What ``launch`` gets besides the address: translations, the upload limit, and file access limited to the
    experiments and models (the job records and the pretrained weights are never served)."""
    return {
        "i18n": I18N,
        "max_file_size": "1gb",
        "allowed_paths": [str(settings.logs_dir.resolve()), str(settings.weights_dir.resolve())],
        "blocked_paths": [str(Path("pretrained").resolve()), str(settings.logs_dir.resolve() / ".jobs")],
    }


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = parse_args(argv)
    settings, public = settings_from(args)
    if settings.space is not None and settings.space.data_dir is not None:  # weights persist next to the data
        os.environ.setdefault("RVC_PRETRAINED_DIR", str(settings.space.data_dir / "pretrained"))
        os.environ.setdefault("HF_HOME", str(settings.space.data_dir / "hf_home"))
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if public and auth is None and settings.space is None:
        logger.warning("THIS APP IS OPEN TO ANYONE WHO HAS ITS ADDRESS: start it with --auth user:password")
    demo = build_demo(settings)
    concurrency = settings.space.concurrency if settings.space else 1
    _, _, share_url = demo.queue(max_size=16, default_concurrency_limit=concurrency).launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share and settings.space is None,
        auth=auth,
        prevent_thread_lock=True,
        **launch_options(settings),
    )
    if args.share and settings.space is None and not share_url:
        logger.warning(
            "No public link: the share server could not be reached from this machine; the app keeps serving locally"
        )
    demo.block_thread()


if __name__ == "__main__":
    main()
