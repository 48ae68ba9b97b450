"""The Infer tab: choose or import a model, convert one recording or several with the same settings."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.components import Component

from rvc.audio.encode import FORMATS
from rvc.core.errors import RvcError
from rvc.core.options import config_from, spec
from rvc.inference.config import ConvertConfig
from rvc.ui.common import L, Skip, embedder_box, embedder_value, fail, radio, slider
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form, Reporter
from rvc.ui.i18n import tr
from rvc.ui.train.features import default_method


@dataclass(frozen=True)
class ModelForm(Form):
    model: str | None


@dataclass(frozen=True)
class ImportForm(Form):
    archive: str | None
    link: str | None = None
    pick: str | None = None  # which model of a repository holding several


@dataclass(frozen=True)
class InferForm(Form):
    """The conversion settings both modes share."""

    model: str | None
    index: str | None
    transpose: float
    method: str
    index_rate: float
    radius: float
    rms: float
    protect: float
    resample_sr: float
    fmt: str
    device: str
    embedder: str | None
    precision: str


@dataclass(frozen=True)
class ConvertForm(InferForm):
    audio: str | None


@dataclass(frozen=True)
class BatchForm(InferForm):
    files: list[str] | None


@dataclass(frozen=True)
class InferWidgets:
    tab: gr.Tab
    model: gr.Dropdown
    index: gr.Dropdown
    refresh: gr.Button
    card: gr.Markdown
    upload: gr.File
    import_button: gr.Button
    audio: gr.Audio
    settings: dict[str, Component]  # InferForm's fields but the model and index
    run: gr.Button
    info: gr.Markdown
    result: gr.Audio
    batch_files: gr.File
    batch_run: gr.Button
    batch_info: gr.Markdown
    batch_out: gr.File
    link: gr.Textbox
    pick: gr.Dropdown
    import_info: gr.Markdown  # what the import did; the card above is the chosen model's, refreshed on its change


def index_choices(ctx: UiContext) -> list[str]:
    """The index dropdown's choices: none, then every index there is."""
    from rvc.steps.index import list_indexes

    return ["", *(str(p) for p in list_indexes(ctx.logs_dir, ctx.weights_dir))]


def choose_model(ctx: UiContext, form: ModelForm) -> tuple[str, gr.Dropdown | Skip]:
    """The chosen model's card, and the index made with it."""
    from rvc.models.package import read_card
    from rvc.steps.index import match_index

    if not form.model:
        return "", gr.skip()
    try:
        card = read_card(Path(form.model)).summary()
    except RvcError as e:
        card = f"⚠ {tr(str(e), form.lang)}"
    indexes = index_choices(ctx)
    matched = match_index(form.model, [Path(i) for i in indexes[1:]])
    return card, gr.Dropdown(choices=indexes, value=str(matched) if matched else "")


def import_model(
    ctx: UiContext, form: ImportForm, report: Reporter
) -> tuple[str, gr.Dropdown, gr.Dropdown, gr.Dropdown]:
    """A model from a link (Hugging Face, Google Drive, a direct URL) or an uploaded .zip/.pth into the weights
    folder, chosen for conversion; a repository with several models shows them to pick from."""
    from rvc.models.package import import_package
    from rvc.steps.import_link import ChoiceNeeded, ImportConfig
    from rvc.steps.import_link import import_model as fetch_model

    link = (form.link or "").strip()
    if not link and not form.archive:
        raise fail("Paste a link or upload a model .zip (or a .pth) first", form.lang)
    try:
        if link:  # shared: public addresses only, redirects included, and no server files
            config = ImportConfig(file=form.pick or None, public_only=not ctx.settings.allow_server_paths)
            got = fetch_model(link, ctx.weights_dir, config, lambda p: report(p.message))
        else:
            got = import_package(Path(form.archive or ""), ctx.weights_dir)
    except ChoiceNeeded as e:
        text = tr("This repository holds several models: pick one and press Import again", form.lang)
        return text, gr.Dropdown(), gr.Dropdown(), gr.Dropdown(choices=e.options, value=None, visible=True)
    except RvcError as e:
        raise fail(e, form.lang) from e
    model = str(got.model) if got.model else None
    return (
        f"{tr('Imported', form.lang)}: {got.summary()}",
        gr.Dropdown(choices=ctx.models(), value=model) if model else gr.Dropdown(choices=ctx.models()),
        gr.Dropdown(choices=index_choices(ctx), value=str(got.index) if got.index else ""),
        gr.Dropdown(choices=[], value=None, visible=False),
    )


def check_model(ctx: UiContext, model: str | None, index: str | None) -> None:
    """A model was chosen, and (when others can reach the app) it and the index are among those listed."""
    if not model:
        raise RvcError("Choose a model (train one, or import a .zip or .pth)")
    allowed = set(ctx.models()) | set(index_choices(ctx))
    for path in (model, index):
        if path and path not in allowed and not ctx.settings.allow_server_paths:
            raise RvcError("Only the models and indexes listed here can be used when the app is shared")


def convert_config(ctx: UiContext, form: InferForm) -> ConvertConfig:
    """The conversion settings of the Infer tab, with the model and index checked (raises RvcError)."""
    check_model(ctx, form.model, form.index)
    own = embedder_value(form.embedder, ctx.settings.allow_server_paths)
    values = {
        "transpose": form.transpose, "f0_method": form.method, "index": form.index or None,
        "index_rate": form.index_rate, "filter_radius": form.radius, "rms_mix_rate": form.rms,
        "protect": form.protect, "resample_sr": form.resample_sr, "device": form.device, "embedder": own or None,
        "precision": form.precision,
    }  # fmt: skip
    return config_from(ConvertConfig, values)


def run_convert(ctx: UiContext, form: ConvertForm, report: Reporter) -> tuple[str, str]:
    """Converts one recording; returns what happened and the converted file."""
    from rvc.inference.convert import convert_file

    try:
        cfg = convert_config(ctx, form)
        if not form.audio:
            raise RvcError("Upload or record the audio to convert")
        model, audio = Path(form.model or ""), Path(form.audio)
        out = Path(tempfile.mkdtemp(prefix="rvc-out-")) / f"{audio.stem}_{model.stem}.{form.fmt}"
        r = convert_file(model, audio, out, cfg, form.fmt, on_progress=report)
    except RvcError as e:
        raise fail(e, form.lang) from e
    t = r.timings
    text = tr(
        "{s:.1f} s at {sr} Hz in {n} part(s), {prec}. Time: pitch {p} s, conversion {c} s, total {t} s.", form.lang
    )
    values = dict(s=r.seconds, sr=r.sample_rate, n=r.chunks, prec=r.precision, p=t["pitch"], c=t["convert"])
    return text.format(**values, t=t["total"]), str(r.output)


def run_convert_many(ctx: UiContext, form: BatchForm, report: Reporter) -> tuple[str, list[str]]:
    """Batch mode: every uploaded file converted with one loading of the model; files that are not audio are
    listed and skipped. Returns the report and the converted files (a zip of them first, when several)."""
    from rvc.inference.convert import convert_files

    work = Path(tempfile.mkdtemp(prefix="rvc-batch-"))
    model = Path(form.model or "")
    try:
        cfg = convert_config(ctx, form)
        if not form.files:
            raise RvcError("Upload the recordings to convert")
        items = convert_files(model, [Path(f) for f in form.files], work, cfg, form.fmt, on_progress=report)
    except RvcError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise fail(e, form.lang) from e
    done = [i.result for i in items if i.result is not None]
    outputs = [str(r.output) for r in done]
    seconds = sum(r.seconds for r in done)
    lines = [
        tr("Converted {n} of {m} files ({s:.1f} s of audio).", form.lang).format(n=len(done), m=len(items), s=seconds)
    ]
    lines += [f"- ⚠ {i.source.name}: {tr(i.error, form.lang)}" for i in items if i.result is None]
    if len(outputs) > 1:
        archive = work / f"converted_{model.stem}.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for o in outputs:
                z.write(o, Path(o).name)
        outputs.insert(0, str(archive))
    return "\n".join(lines), outputs


def _slider(name: str, label: str) -> gr.Slider:
    return slider(spec(ConvertConfig, name), label)


def _settings(ctx: UiContext, methods: list[str]) -> dict[str, Component]:
    """The conversion settings, named as :class:`InferForm` names them."""
    with gr.Row():
        transpose = _slider("transpose", "Transpose (semitones)")
        method = gr.Radio(
            methods, value=default_method(methods, ConvertConfig), label=L("Pitch method"), elem_id="in-method"
        )
    with gr.Row():
        index_rate = _slider("index_rate", "Index rate")
        radius = _slider("filter_radius", "Median filter (harvest)")
        rms = _slider("rms_mix_rate", "Volume envelope mix")
        protect = _slider("protect", "Protect consonants")
    with gr.Row():
        resample_sr = _slider("resample_sr", "Output sample rate (0: the model's)")
        fmt = gr.Radio(list(FORMATS), value=FORMATS[0], label=L("Format"))
        dev = radio(spec(ConvertConfig, "device"), "Device", elem_id="in-device")
        precision = radio(spec(ConvertConfig, "precision"), "Precision", info=precision_hint(), elem_id="in-precision")
    embedder = embedder_box("in-embedder", ctx.settings.allow_server_paths, for_model=True)
    return {"transpose": transpose, "method": method, "index_rate": index_rate, "radius": radius, "rms": rms,
            "protect": protect, "resample_sr": resample_sr, "fmt": fmt, "device": dev, "embedder": embedder,
            "precision": precision}  # fmt: skip


def precision_hint() -> Any:
    """What bf16 does on this machine's CPU, under the precision choice."""
    from rvc.core.cpu import cpu_bf16_feature

    if cpu_bf16_feature():
        return L(
            "auto picks bf16 here (this CPU has AVX-512 BF16 or AMX): the generator runs 1.2-2.2x faster, within 0.2 dB MCD of fp32"
        )
    return L("auto picks fp32 here: bf16 is slower than fp32 on this CPU (no AVX-512 BF16 or AMX)")


def layout(ctx: UiContext, methods: list[str]) -> InferWidgets:
    allow = ctx.settings.allow_server_paths
    with gr.Tab(L("Infer"), id="infer") as tab:
        gr.Markdown(L("### Convert a recording with a trained model"))
        with gr.Row():
            model = gr.Dropdown(
                ctx.models(), label=L("Model (weights/*.pth)"), allow_custom_value=allow, elem_id="in-model"
            )
            index = gr.Dropdown(
                index_choices(ctx), value="", label=L("Index (optional)"), allow_custom_value=allow, elem_id="in-index"
            )
            refresh = gr.Button("↻", scale=0, min_width=40)
        card = gr.Markdown(elem_id="in-card")
        with gr.Accordion(L("Import a model (a link, a .zip with .pth and .index, or a .pth)"), open=False):
            link = gr.Textbox(
                label=L("Link (Hugging Face, Google Drive, or a direct .zip/.pth/.index URL)"), elem_id="in-link"
            )
            pick = gr.Dropdown([], label=L("Which model"), visible=False, elem_id="in-pick")
            upload = gr.File(file_types=[".zip", ".pth", ".index"], label=L("or a model file"), elem_id="in-upload")
            import_button = gr.Button(L("Import"), elem_id="in-import")
            import_info = gr.Markdown(elem_id="in-import-info")
        audio = gr.Audio(type="filepath", label=L("Recording to convert"), elem_id="in-audio")
        settings = _settings(ctx, methods)
        run = gr.Button(L("Convert"), variant="primary", elem_id="in-run")
        info = gr.Markdown(elem_id="in-info")
        result = gr.Audio(label=L("Converted"), type="filepath", elem_id="in-result")
        with gr.Accordion(L("Convert several files at once (same settings)"), open=False):
            files = gr.File(file_count="multiple", type="filepath", label=L("Recordings"), elem_id="in-batch-files")
            batch_run = gr.Button(L("Convert all"), elem_id="in-batch-run")
            batch_info = gr.Markdown(elem_id="in-batch-info")
            out = gr.File(file_count="multiple", label=L("Converted files"), interactive=False, elem_id="in-batch-out")
    return InferWidgets(
        tab, model, index, refresh, card, upload, import_button, audio, settings, run, info, result, files, batch_run,
        batch_info, out, link, pick, import_info,
    )  # fmt: skip


def wire(ev: Events, w: InferWidgets) -> None:
    ctx = ev.ctx

    def refresh_lists() -> tuple[gr.Dropdown, gr.Dropdown]:
        return gr.Dropdown(choices=ctx.models()), gr.Dropdown(choices=index_choices(ctx))

    for event in (w.refresh.click, w.tab.select):  # models trained since the page loaded appear
        event(refresh_lists, None, [w.model, w.index], queue=False, api_visibility="private")
    ev.on(w.model.change, choose_model, ModelForm, {"model": w.model}, [w.card, w.index], api_name="model_card",
          queue=False)  # fmt: skip
    ev.on_progress(w.import_button.click, import_model, ImportForm, {"archive": w.upload, "link": w.link, "pick": w.pick},
                   [w.import_info, w.model, w.index, w.pick], api_name="import_model")  # fmt: skip
    one = {"model": w.model, "index": w.index, "audio": w.audio, **w.settings}
    ev.on_progress(w.run.click, run_convert, ConvertForm, one, [w.info, w.result], api_name="convert",
                   concurrency_id="heavy", concurrency_limit=1)  # fmt: skip
    many = {"model": w.model, "index": w.index, "files": w.batch_files, **w.settings}
    ev.on_progress(w.batch_run.click, run_convert_many, BatchForm, many, [w.batch_info, w.batch_out],
                   api_name="convert_batch", concurrency_id="heavy", concurrency_limit=1)  # fmt: skip
