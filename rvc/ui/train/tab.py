"""The Train tab: the steps in the order a person takes them, then their events."""

from __future__ import annotations

import gradio as gr

from rvc.ui.common import L
from rvc.ui.forms import Events
from rvc.ui.train import dataset, experiment, features, oneclick, training


def train_tab(ev: Events, demo: gr.Blocks, methods: list[str], unavailable: str) -> experiment.ExperimentWidgets:
    """Lays out and wires the Train tab (``methods``: the pitch methods that can run here, ``unavailable``: why the
    others cannot); returns Step 1's widgets (the page reattaches a running job's experiment)."""
    with gr.Tab(L("Train"), id="train"):
        step1 = experiment.layout(ev.ctx)
        step2a = dataset.layout(ev.ctx)
        step2b = features.layout(ev.ctx, methods, unavailable)
        step3 = training.layout(ev.ctx)
    experiment.wire(ev, step1, demo)
    dataset.wire(ev, step2a, step1.name)
    features.wire(ev, step2b, step1.name)
    training.wire(ev, step3, step1)
    oneclick.wire(ev, step1, step2a, step2b, step3)
    return step1
