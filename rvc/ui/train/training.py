"""Step 3 · Train: the training job and what the page shows of it (progress, losses, log), stopping it, the
feature index, and the trained model's card and zip."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
from gradio.components import Component

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment, ExperimentConfig
from rvc.core.options import OptionSpec, config_from, spec
from rvc.jobs.registry import Job
from rvc.steps.train.config import TrainConfig
from rvc.ui.common import L, checkbox, fail, job_html, radio, slider, title
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form, NameForm, form_fields
from rvc.ui.i18n import tr
from rvc.ui.train.evaluation import (
    ABWidgets,
    EvalSettings,
    ab_layout,
    best_text,
    curves,
    eval_plot,
    keep_probes,
    settings_layout,
)
from rvc.ui.train.evaluation import wire as wire_ab

if TYPE_CHECKING:
    import pandas as pd

    from rvc.ui.train.experiment import ExperimentWidgets

LOSSES = ("loss_g", "loss_d", "loss_mel", "loss_kl", "loss_fm", "lr")  # the plot's series


@dataclass(frozen=True)
class TrainForm(Form):
    name: str | None
    batch_size: float
    epochs: float
    save_every: float
    latest_only: bool
    cache_on_gpu: bool
    save_small: bool
    pretrained_g: str | None
    pretrained_d: str | None
    device: str
    precision: str
    compile: bool
    holdout: float
    eval_every: float
    patience: float
    no_eval: bool
    probes: list[str] | None = None  # optional for API callers (added after the other fields)


# the form's fields that are TrainConfig's as they are (the pretrained files are checked as server paths first,
# the probes are copied into the experiment)
SETTINGS = tuple(f for f in form_fields(TrainForm) if f not in ("name", "probes") and not f.startswith("pretrained_"))


def option(name: str) -> OptionSpec:
    return spec(TrainConfig, name)


@dataclass(frozen=True)
class TrainWidgets:
    batch_size: gr.Slider
    epochs: gr.Slider
    save_every: gr.Slider
    latest_only: gr.Checkbox
    cache_on_gpu: gr.Checkbox
    save_small: gr.Checkbox
    device: gr.Radio
    precision: gr.Radio
    compile: gr.Checkbox
    pretrained_g: gr.Textbox
    pretrained_d: gr.Textbox
    evaluation: EvalSettings
    start: gr.Button
    stop: gr.Button
    index: gr.Button
    one_click: gr.Button
    job_status: gr.HTML
    status: gr.Markdown
    plot: gr.LinePlot
    eval_plot: gr.LinePlot
    best: gr.Markdown
    ab: ABWidgets
    log: gr.Textbox
    card: gr.Markdown
    zip: gr.Button
    package: gr.File
    best_package: gr.File
    timer: gr.Timer

    def choices(self, device: str = "device") -> dict[str, Component]:
        """The training settings, named as :class:`TrainForm` names them (``device``: the name of the device)."""
        return {
            "batch_size": self.batch_size, "epochs": self.epochs, "save_every": self.save_every,
            "latest_only": self.latest_only, "cache_on_gpu": self.cache_on_gpu, "save_small": self.save_small,
            "pretrained_g": self.pretrained_g, "pretrained_d": self.pretrained_d, device: self.device,
            "precision": self.precision, "compile": self.compile, **self.evaluation.choices(),
        }  # fmt: skip


def pretrained_defaults(sample_rate: str, use_f0: bool, version: str) -> tuple[str, str]:
    """The registry's pretrained generator and discriminator for these Step 1 choices."""
    from rvc.hub import weights

    reg = weights.registry()
    prefix = "f0" if use_f0 else ""
    paths = [
        weights.pretrained_dir() / reg[weights.pretrained_name(f"{prefix}{k}{sample_rate}.pth", version)][1][0].local
        for k in "GD"
    ]
    return str(paths[0]), str(paths[1])


def train_params(ctx: UiContext, exp: Experiment, form: TrainForm) -> dict[str, Any]:
    """The train job's parameters (rvc.steps.tasks), checked as a TrainConfig; pretrained files other than the
    defaults are server paths."""
    lang = form.lang
    try:
        config = config_from(TrainConfig, {k: getattr(form, k) for k in SETTINGS})
    except RvcError as e:
        raise fail(e, lang) from e
    params: dict[str, Any] = {"name": exp.name, **{k: getattr(config, k) for k in SETTINGS}}
    params["probes"] = keep_probes(exp, form.probes)
    default_g, default_d = pretrained_defaults(exp.config.sample_rate, exp.config.use_f0, exp.config.version)
    custom = [(p or "").strip() for p in (form.pretrained_g, form.pretrained_d)]
    if custom != [default_g, default_d] and any(custom):  # both empty: the defaults
        for p, key in zip(custom, ("pretrained_g", "pretrained_d"), strict=True):
            path = ctx.server_path(p, "Pretrained file not found: (empty)", lang)
            if not path.is_file():
                raise fail(tr("Pretrained file not found: {p}", lang).format(p=p), lang)
            params[key] = str(path)
    return params


def start_training(ctx: UiContext, form: TrainForm) -> tuple[str, gr.Timer]:
    exp = ctx.experiment(form.name, form.lang)
    ctx.start_job(exp.name, "train", train_params(ctx, exp, form), form.lang)
    return tr("Training **{name}** started.", form.lang).format(name=exp.name), gr.Timer(active=True)


def stop_training(ctx: UiContext, form: NameForm) -> str:
    return ctx.stop_message(ctx.jobs.stop((form.name or "").strip()), form.lang)


def run_index(ctx: UiContext, form: NameForm) -> Iterator[str]:
    exp = ctx.experiment(form.name, form.lang)
    job = ctx.start_job(exp.name, "index", {"name": exp.name}, form.lang)
    yield from ctx.follow(job, form.lang)


def training_status(ctx: UiContext, form: NameForm) -> tuple[str, str, str, pd.DataFrame, str, pd.DataFrame, str]:
    """What the page shows of the experiment's newest job, its losses, its evaluations and its model card."""
    import pandas as pd

    from rvc.core.experiment import open_experiment
    from rvc.steps.train.metrics import read_metrics

    name, lang = (form.name or "").strip(), form.lang
    job = ctx.jobs.get(name) if name else None
    rows: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    card = ""
    exp = None
    if name:
        try:
            exp = open_experiment(name, ctx.logs_dir)
            rows, evals = read_metrics(exp.paths.root), read_metrics(exp.paths.root, kind="eval")
            card = model_card(ctx, exp.name, lang)[0]
        except RvcError:
            rows, evals, exp = [], [], None
    long = [
        {"step": r["step"], "value": r[k] * (1e4 if k == "lr" else 1), "series": "lr ×1e4" if k == "lr" else k}
        for r in rows[-2000:]
        for k in LOSSES
        if k in r
    ]
    plot = pd.DataFrame(long or {"step": [], "value": [], "series": []})
    log = "\n".join(job.log) if job else ""
    status = job_html(job, lang), training_text(job, rows, lang), log, plot, card
    return (*status, curves(evals), best_text(exp, evals, lang))


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


def model_card(ctx: UiContext, name: str, lang: str) -> tuple[str, str | None, str | None]:
    """The trained model's card, its zip and the best-scoring model's zip, when there are."""
    from rvc.core.experiment import validate_name
    from rvc.models.package import read_card

    try:
        validate_name(name)
        model = ctx.weights_dir / f"{name}.pth"
        card = read_card(model) if model.is_file() else None
    except RvcError:
        return "", None, None
    if card is None:
        return "", None, None
    zips = [z if z.is_file() else None for z in (model.with_suffix(".zip"), model.with_name(f"{name}_best.zip"))]
    text = f"**{tr('Model', lang)}** `{model.name}`: {card.summary()}"
    # the text changes when a zip appears, which sends them (see card.change)
    text += "".join(f" · `{z.name}`" for z in zips if z is not None)
    package, best = (str(z) if z is not None else None for z in zips)
    return text, package, best


def card_package(ctx: UiContext, form: NameForm) -> tuple[str | None, str | None]:
    return model_card(ctx, (form.name or "").strip(), form.lang)[1:]


def package_model(ctx: UiContext, form: NameForm) -> tuple[str, str | None, str | None]:
    """Zips the trained model with the experiment's index (and the best-scoring model, when training kept one)."""
    from rvc.steps.export import package_model as package

    exp = ctx.experiment(form.name, form.lang)
    model = ctx.weights_dir / f"{exp.name}.pth"
    if not model.is_file():
        raise fail("No model yet: train it first (Step 3)", form.lang)
    try:
        package(exp, model)
    except RvcError as e:
        raise fail(e, form.lang) from e
    return model_card(ctx, exp.name, form.lang)


def layout(ctx: UiContext) -> TrainWidgets:
    gr.Markdown(
        L(
            "### Step 3 · Train\nStarts from the pretrained G/D for this sample rate, version and pitch "
            "setting (downloaded when missing; from scratch when unavailable). Training continues in the "
            "background if you close the page; reopen it to watch. An interrupted run resumes by itself."
        )
    )
    with gr.Row():
        batch = slider(option("batch_size"), "Batch size (per GPU)", elem_id="tr-batch")
        epochs = slider(option("epochs"), "Total epochs", elem_id="tr-epochs")
        save_every = slider(option("save_every"), "Save every N epochs", elem_id="tr-save")
    with gr.Row():
        latest_only = checkbox(option("latest_only"), "Keep only the latest checkpoint")
        cache_gpu = checkbox(option("cache_on_gpu"), "Cache the dataset on the GPU")
        save_small = checkbox(option("save_small"), "Export a small model at each save")
        tr_device = radio(option("device"), "Device")
        tr_precision = radio(
            option("precision"),
            "Precision",
            info=L("fp16/bf16: GPU; bf16 also on CPUs with AVX-512 BF16 or AMX (about 1.5× faster)"),
        )
        compile_ = checkbox(option("compile"), "Compile the model (GPU: faster steps, slow first step)")
    first = {n: spec(ExperimentConfig, n).default for n in ("sample_rate", "use_f0", "version")}
    g0, d0 = pretrained_defaults(**first)
    allow = ctx.settings.allow_server_paths
    with gr.Row():
        pre_g = gr.Textbox(g0, label=L("Pretrained generator"), elem_id="tr-pre-g", interactive=allow)
        pre_d = gr.Textbox(d0, label=L("Pretrained discriminator"), elem_id="tr-pre-d", interactive=allow)
    evaluation = settings_layout()
    with gr.Row():
        start = gr.Button(L("Train model"), variant="primary", elem_id="tr-start")
        stop = gr.Button(L("Stop"), variant="stop", elem_id="tr-stop")
        index = gr.Button(L("Train index"), elem_id="tr-index")
        one_click = gr.Button(L("One-click training"), variant="primary", elem_id="tr-one-click")
    gr.Markdown(
        L(
            "One-click training runs Steps 2a, 2b and 3, the index and the model zip with the settings "
            "above; a second run skips what is up to date."
        ),
        elem_id="step3-status",
    )
    job_status = gr.HTML(elem_id="job-status")
    status = gr.Markdown(elem_id="tr-status")
    with gr.Row():
        plot = gr.LinePlot(x="step", y="value", color="series", title=title("Losses"), elem_id="tr-plot")
        log = gr.Textbox(label=L("Log"), lines=12, max_lines=12, autoscroll=True, interactive=False, elem_id="tr-log")
    with gr.Row():
        eval_chart = eval_plot()
        best = gr.Markdown(elem_id="tr-best")
    ab = ab_layout()
    with gr.Row():
        card = gr.Markdown(elem_id="tr-card")
        zip_btn = gr.Button(L("Make the model zip"), scale=0, elem_id="tr-zip")
        package = gr.File(label=L("Model zip (model + index)"), elem_id="tr-package", interactive=False)
        best_package = gr.File(
            label=L("Best model zip (best score + index)"), elem_id="tr-best-package", interactive=False
        )
    timer = gr.Timer(2.0, active=True)
    return TrainWidgets(
        batch, epochs, save_every, latest_only, cache_gpu, save_small, tr_device, tr_precision, compile_, pre_g, pre_d,
        evaluation, start, stop, index, one_click, job_status, status, plot, eval_chart, best, ab, log, card, zip_btn,
        package, best_package, timer,
    )  # fmt: skip


def wire(ev: Events, w: TrainWidgets, step1: ExperimentWidgets) -> None:
    name = step1.name
    choices: list[gr.Radio | gr.Checkbox] = [step1.sample_rate, step1.use_f0, step1.version]
    for choice in choices:
        choice.change(pretrained_defaults, choices, [w.pretrained_g, w.pretrained_d], queue=False,
                      api_visibility="private")  # fmt: skip
    ev.on(w.start.click, start_training, TrainForm, {"name": name, **w.choices()}, [w.status, w.timer],
          api_name="train", concurrency_limit=None)  # fmt: skip
    ev.on(w.stop.click, stop_training, NameForm, {"name": name}, [w.status], api_name="stop_training", queue=False)
    ev.on(w.index.click, run_index, NameForm, {"name": name}, [w.job_status], api_name="train_index",
          concurrency_limit=None)  # fmt: skip
    outputs = [w.job_status, w.status, w.log, w.plot, w.card, w.eval_plot, w.best]
    ev.on(w.timer.tick, training_status, NameForm, {"name": name}, outputs, api_name="training_status",
          show_progress="hidden", queue=False)  # fmt: skip
    wire_ab(ev, w.ab, name)
    # the zip is copied for download each time it is sent: only when the card (epochs, steps) changes
    zips = [w.package, w.best_package]
    ev.on(w.card.change, card_package, NameForm, {"name": name}, zips, show_progress="hidden", queue=False,
          api_visibility="private")  # fmt: skip
    ev.on(w.zip.click, package_model, NameForm, {"name": name}, [w.card, *zips], api_name="package_model")
