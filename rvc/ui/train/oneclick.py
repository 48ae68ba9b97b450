"""One-click training: Steps 1, 2a, 2b and 3, the index and the model zip as one job, with the settings of the
steps above (a second run skips what is up to date)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import gradio as gr

from rvc.ui.common import Skip, job_html
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form, form_fields
from rvc.ui.train.dataset import DatasetForm, DatasetWidgets, dataset_folder, preprocess_params
from rvc.ui.train.experiment import ExperimentForm, ExperimentWidgets, open_or_create
from rvc.ui.train.features import ExtractForm, FeatureWidgets, extract_params
from rvc.ui.train.training import TrainForm, TrainWidgets, train_params

P = TypeVar("P", bound=Form)


@dataclass(frozen=True)
class OneClickForm(Form):
    """Every step's settings; the API lists them in the page's order (Step 1, 2a, 2b, 3)."""

    name: str | None
    sample_rate: str
    use_f0: bool
    version: str
    source: str
    folder: str | None
    files: list[str] | None
    folder_files: list[str] | None
    segment: str
    workers: float
    method: str
    device: str  # Step 2b's device; "auto" takes the training's
    embedder: str | None
    batch_size: float
    epochs: float
    save_every: float
    latest_only: bool
    cache_on_gpu: bool
    save_small: bool
    pretrained_g: str | None
    pretrained_d: str | None
    train_device: str
    precision: str
    compile: bool
    holdout: float
    eval_every: float
    patience: float
    no_eval: bool
    probes: list[str] | None = None  # optional for API callers (added after the other fields)

    def part(self, form: type[P], **renamed: str) -> P:
        """One step's form out of this one (``renamed``: the step's field -> the field here)."""
        return form(**{f: getattr(self, renamed.get(f, f)) for f in form_fields(form)}, lang=self.lang)


def one_click_params(ctx: UiContext, form: OneClickForm) -> tuple[str, dict[str, Any]]:
    """The experiment (created when new) and the one-click job's parameters: every step's, checked as the steps
    check them."""
    exp, _ = open_or_create(ctx, form.part(ExperimentForm))
    dataset = dataset_folder(ctx, exp, form.part(DatasetForm))
    params = {
        **train_params(ctx, exp, form.part(TrainForm, device="train_device")),
        **preprocess_params(exp, dataset, form.part(DatasetForm)),
        **extract_params(ctx, exp, form.part(ExtractForm)),
    }
    c = exp.config
    params.update(sample_rate=c.sample_rate, version=c.version, use_f0=c.use_f0)
    params["device"] = form.device if form.device != "auto" else form.train_device
    return exp.name, params


def run_one_click(ctx: UiContext, form: OneClickForm) -> Iterator[tuple[str, gr.Timer | Skip]]:
    name, params = one_click_params(ctx, form)
    job = ctx.start_job(name, "one-click", params, form.lang)
    yield job_html(job, form.lang), gr.Timer(active=True)
    for status in ctx.follow(job, form.lang):
        yield status, gr.skip()


def wire(ev: Events, step1: ExperimentWidgets, step2a: DatasetWidgets, step2b: FeatureWidgets, step3: TrainWidgets) -> None:  # fmt: skip
    inputs = {
        **step1.choices(),
        **step2a.choices(),
        "method": step2b.method,
        "device": step2b.device,
        "embedder": step2b.embedder,
        **step3.choices(device="train_device"),
    }
    ev.on(step3.one_click.click, run_one_click, OneClickForm, inputs, [step3.job_status, step3.timer],
          api_name="one_click", concurrency_limit=None)  # fmt: skip
