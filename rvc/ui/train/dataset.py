"""Step 2a · Preprocess the dataset: recordings from a folder on the server or uploaded, cut into pieces; then
the dataset's health (speech kept, clipping, loudness) and three pieces to listen to."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from gradio.components import Component

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment
from rvc.core.options import spec
from rvc.steps.preprocess import PreprocessConfig
from rvc.ui.common import SERVER_FOLDER, UPLOAD, L, Skip, fail, title
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form
from rvc.ui.i18n import tr

if TYPE_CHECKING:
    import pandas as pd

# Step 2a's outputs: the job's line, the report, the loudness histogram and the pieces to listen to
Outputs = tuple["str | pd.DataFrame | Skip | None", ...]
EXAMPLES = 3  # pieces to listen to after Step 2a
SMALL_GPU_SEGMENT = 3.0  # the reference's piece length for GPUs with ≤ 4 GB


@dataclass(frozen=True)
class DatasetForm(Form):
    name: str | None
    source: str
    folder: str | None
    files: list[str] | None
    folder_files: list[str] | None
    segment: str
    workers: float


@dataclass(frozen=True)
class DatasetWidgets:
    source: gr.Radio
    folder: gr.Textbox
    upload_row: gr.Row
    files: gr.File
    folder_files: gr.File
    segment: gr.Radio
    workers: gr.Slider
    run: gr.Button
    status: gr.HTML
    report: gr.Textbox
    histogram: gr.BarPlot
    examples: list[gr.Audio]

    def choices(self) -> dict[str, Component]:
        """Where the recordings come from and how they are cut, as the forms name them (after the name)."""
        return {"source": self.source, "folder": self.folder, "files": self.files, "folder_files": self.folder_files,
                "segment": self.segment, "workers": self.workers}  # fmt: skip


def dataset_folder(ctx: UiContext, exp: Experiment, form: DatasetForm) -> Path:
    """The folder Step 2a reads: the server folder typed in, or the uploads copied into the experiment."""
    from rvc.steps.preprocess import collect_uploads

    lang = form.lang
    if form.source == SERVER_FOLDER:
        path = ctx.server_path(form.folder, "Type the path of the folder that holds your recordings", lang)
        if not path.is_dir():
            raise fail(tr("Dataset folder not found: {p}", lang).format(p=path), lang)
        return path
    uploaded = [*(form.files or []), *(form.folder_files or [])]
    try:
        return collect_uploads([Path(f) for f in uploaded], exp.paths.uploads)
    except RvcError as e:
        raise fail(e, lang) from e


def preprocess_params(exp: Experiment, dataset: Path, form: DatasetForm) -> dict[str, Any]:
    """The preprocess job's parameters (rvc.steps.tasks): the dataset, the piece length and the processes."""
    workers = int(form.workers) or None  # None: every core
    return {"name": exp.name, "dataset": str(dataset), "segment_seconds": float(form.segment), "workers": workers}


def run_preprocess(ctx: UiContext, form: DatasetForm) -> Iterator[Outputs]:
    """Runs Step 2a as a job and follows it; when done, the dataset's health."""
    exp = ctx.experiment(form.name, form.lang)
    dataset = dataset_folder(ctx, exp, form)
    job = ctx.start_job(exp.name, "preprocess", preprocess_params(exp, dataset, form), form.lang)
    status = ""
    for status in ctx.follow(job, form.lang):
        yield status, "", gr.skip(), *([gr.skip()] * EXAMPLES)
    if job.status == "done":
        yield (status, *health_outputs(exp, job.result.summary(), form.lang))
    else:
        yield status, job.message, gr.skip(), *([gr.skip()] * EXAMPLES)


def health_outputs(exp: Experiment, summary: str, lang: str) -> Outputs:
    """The report, the loudness histogram and the pieces to listen to."""
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
    pieces: list[str | None] = [str(p) for p in h["examples"][:EXAMPLES]]
    return "\n".join(lines), frame, *(pieces + [None] * (EXAMPLES - len(pieces)))


def layout(ctx: UiContext) -> DatasetWidgets:
    gr.Markdown(
        L(
            "### Step 2a · Preprocess the dataset\nEvery audio file at the top level of the folder "
            "(subfolders are not read) is filtered, cut at silences into ~3.7 s pieces and normalised."
        )
    )
    allow = ctx.settings.allow_server_paths
    sources = [SERVER_FOLDER, UPLOAD] if allow else [UPLOAD]
    source = gr.Radio([(L(s), s) for s in sources], value=sources[0], label=L("Recordings from"), elem_id="pp-source")
    folder = gr.Textbox(
        label=L("Dataset folder on the server"),
        placeholder="/home/me/voice-dataset",
        visible=allow,
        elem_id="pp-folder",
    )
    with gr.Row(visible=not allow) as upload_row:
        files = gr.File(file_count="multiple", label=L("Audio files"), elem_id="pp-files")
        folder_files = gr.File(file_count="directory", label=L("…or a folder"), elem_id="pp-dir")
    seg, work = spec(PreprocessConfig, "segment_seconds"), spec(PreprocessConfig, "workers")
    cpu = os.cpu_count() or 1  # the default (None): every core
    with gr.Row():
        lengths = [str(seg.default), str(SMALL_GPU_SEGMENT)]
        segment = gr.Radio(lengths, value=lengths[0], label=L("Piece length (s)"), info=L("3.0 for GPUs with ≤ 4 GB"))
        workers = gr.Slider(work.minimum or 1, cpu, value=cpu, step=1, label=L("Worker processes"))
    run = gr.Button(L("Preprocess"), variant="primary", elem_id="pp-run")
    status = gr.HTML(elem_id="pp-status")
    with gr.Row():
        report = gr.Textbox(label=L("Dataset health"), lines=8, max_lines=30, interactive=False, elem_id="pp-report")
        histogram = gr.BarPlot(x="dBFS", y="pieces", title=title("Loudness of the pieces"), elem_id="pp-hist")
    with gr.Row(elem_id="pp-examples"):
        examples = [
            gr.Audio(label=L(which), type="filepath", interactive=False, elem_id=f"pp-example-{i}")
            for i, which in enumerate(("Loudest piece", "A middle piece", "Quietest piece"))
        ]
    return DatasetWidgets(
        source, folder, upload_row, files, folder_files, segment, workers, run, status, report, histogram, examples
    )


def wire(ev: Events, w: DatasetWidgets, name: gr.Textbox) -> None:
    w.source.change(
        lambda s: (gr.Textbox(visible=s == SERVER_FOLDER), gr.Row(visible=s != SERVER_FOLDER)),
        [w.source],
        [w.folder, w.upload_row],
        queue=False,
        api_visibility="private",
    )
    ev.on(w.run.click, run_preprocess, DatasetForm, {"name": name, **w.choices()},
          [w.status, w.report, w.histogram, *w.examples], api_name="preprocess", concurrency_limit=None)  # fmt: skip
