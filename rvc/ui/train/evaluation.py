"""Step 3 · Evaluation: which checkpoint sounds best. The settings (held-out share, how often, early stopping,
probes), the metric curves beside the loss plot with the best epoch marked, and an A/B panel that plays one
held-out piece as the original and as any two checkpoints."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from rvc.core.errors import RvcError
from rvc.core.experiment import Experiment
from rvc.core.options import spec
from rvc.steps.train.config import TrainConfig
from rvc.ui.common import L, checkbox, fail, slider, title
from rvc.ui.context import UiContext
from rvc.ui.forms import Events, Form, NameForm
from rvc.ui.i18n import tr

if TYPE_CHECKING:
    import pandas as pd

CURVES = ("score", "speaker_similarity", "content_similarity", "vuv_error")  # 0..1, plotted as they are
SCALED = {"mcd_db": ("MCD dB ÷10", 0.1)}  # plotted on the same 0..1 axis


@dataclass(frozen=True)
class EvalSettings:
    holdout: gr.Slider
    eval_every: gr.Slider
    patience: gr.Slider
    no_eval: gr.Checkbox
    probes: gr.File

    def choices(self) -> dict[str, Any]:
        return {
            "holdout": self.holdout, "eval_every": self.eval_every, "patience": self.patience,
            "no_eval": self.no_eval, "probes": self.probes,
        }  # fmt: skip


def settings_layout() -> EvalSettings:
    with gr.Row():
        holdout = slider(spec(TrainConfig, "holdout"), "Held-out share (pieces kept out of training to judge checkpoints)",
                         elem_id="tr-holdout")  # fmt: skip
        every = slider(
            spec(TrainConfig, "eval_every"), "Evaluate every N epochs (0: at each save)", elem_id="tr-eval-every"
        )
        patience = slider(spec(TrainConfig, "patience"), "Stop after N evaluations without a better score (0: never)",
                          elem_id="tr-patience")  # fmt: skip
        no_eval = checkbox(spec(TrainConfig, "no_eval"), "Do not evaluate checkpoints", elem_id="tr-no-eval")
    probes = gr.File(label=L("Probe recordings of other voices (optional)"), file_count="multiple",
                     file_types=["audio", "video"], elem_id="tr-probes")  # fmt: skip
    return EvalSettings(holdout, every, patience, no_eval, probes)


def keep_probes(exp: Experiment, uploads: list[str] | None) -> list[str]:
    """Uploaded probes copied into ``logs/<name>/probes/`` (a long training outlives the upload's temp file, and
    a resume finds them again); returns their paths."""
    if not uploads:
        return []
    folder = exp.paths.root / "probes"
    folder.mkdir(exist_ok=True)
    kept = []
    for upload in uploads:
        src = Path(upload)
        dest = folder / src.name
        if src.resolve() != dest.resolve():
            shutil.copyfile(src, dest)
        kept.append(str(dest))
    return kept


# --- the curves ----------------------------------------------------------------------------------------------


def curves(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The evaluations as the plot's long table (epoch, value, series), the best epoch as a vertical line."""
    import pandas as pd

    long = [{"epoch": r["epoch"], "value": r[k], "series": k} for r in rows for k in CURVES if r.get(k) is not None] + [
        {"epoch": r["epoch"], "value": r[k] * f, "series": label}
        for r in rows
        for k, (label, f) in SCALED.items()
        if r.get(k) is not None
    ]
    best = best_row(rows)
    if best is not None:
        long += [{"epoch": best["epoch"], "value": v, "series": "best"} for v in (0.0, 1.0)]
    return pd.DataFrame(long or {"epoch": [], "value": [], "series": []})


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    scored = [r for r in rows if isinstance(r.get("score"), (int, float))]
    return max(scored, key=lambda r: r["score"]) if scored else None


def best_text(exp: Experiment | None, rows: list[dict[str, Any]], lang: str) -> str:
    """Which checkpoint scores best and why, and which pieces are held out."""
    from rvc.steps.train.holdout import read_split

    lines = []
    best = best_row(rows)
    if best is not None:
        detail = ", ".join(
            f"{label} {best[k]:{fmt}}"
            for k, label, fmt in (("mcd_db", "MCD", ".2f"), ("f0_rmse_cents", "F0 RMSE ¢", ".0f"),
                                  ("speaker_similarity", "speaker", ".3f"), ("content_similarity", "content", ".3f"))
            if best.get(k) is not None
        )  # fmt: skip
        lines.append(
            tr("**Best checkpoint**: epoch {e} (step {s}), score {score}", lang).format(
                e=best["epoch"], s=best["step"], score=f"{best['score']:.4f}"
            )
            + f" · {detail}"
        )
        if best.get("on_training_pieces"):
            lines.append(tr("Judged on training pieces (no held-out set).", lang))
    split = read_split(exp) if exp is not None else None
    if split is not None:
        lines.append(split.describe())
    return "\n\n".join(lines)


# --- A/B -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ABWidgets:
    refresh: gr.Button
    piece: gr.Dropdown
    model_a: gr.Dropdown
    model_b: gr.Dropdown
    play: gr.Button
    original: gr.Audio
    audio_a: gr.Audio
    audio_b: gr.Audio
    table: gr.Markdown


@dataclass(frozen=True)
class ABForm(Form):
    name: str | None
    piece: str | None
    model_a: str | None
    model_b: str | None


def ab_layout() -> ABWidgets:
    with gr.Accordion(L("Compare checkpoints (A/B on a held-out piece)"), open=False, elem_id="tr-ab"):
        with gr.Row():
            refresh = gr.Button(L("Refresh the lists"), scale=0, elem_id="ab-refresh")
            piece = gr.Dropdown([], label=L("Held-out piece"), elem_id="ab-piece")
            model_a = gr.Dropdown([], label=L("Checkpoint A"), elem_id="ab-a")
            model_b = gr.Dropdown([], label=L("Checkpoint B"), elem_id="ab-b")
        play = gr.Button(L("Convert the piece with A and B"), variant="primary", elem_id="ab-play")
        with gr.Row():
            original = gr.Audio(label=L("Original"), interactive=False, elem_id="ab-original")
            audio_a = gr.Audio(label=L("A"), interactive=False, elem_id="ab-audio-a")
            audio_b = gr.Audio(label=L("B"), interactive=False, elem_id="ab-audio-b")
        table = gr.Markdown(elem_id="ab-table")
    return ABWidgets(refresh, piece, model_a, model_b, play, original, audio_a, audio_b, table)


def ab_lists(ctx: UiContext, form: NameForm) -> tuple[Any, Any, Any]:
    """The held-out pieces and the checkpoints (training checkpoints and exported models) to choose from."""
    from rvc.steps.judging import ab_choices

    exp = ctx.experiment(form.name, form.lang)
    pieces, models = ab_choices(exp, ctx.weights_dir)
    names = [str(m) for m in models]
    a = names[0] if names else None
    b = names[1] if len(names) > 1 else a
    return (
        gr.Dropdown(choices=pieces, value=pieces[0] if pieces else None),
        gr.Dropdown(choices=names, value=a),
        gr.Dropdown(choices=names, value=b),
    )


def ab_play(ctx: UiContext, form: ABForm) -> tuple[Any, Any, Any, str]:
    """The piece as it is and as A and B convert it, with each one's metrics on it."""
    from rvc.steps.judging import ab_compare

    exp = ctx.experiment(form.name, form.lang)
    if not form.piece or not form.model_a or not form.model_b:
        raise fail("Choose a piece and two checkpoints (Refresh the lists first)", form.lang)
    try:
        result = ab_compare(exp, form.piece, [Path(form.model_a), Path(form.model_b)])
    except RvcError as e:
        raise fail(e, form.lang) from e
    rows = ["| | MCD dB | F0 RMSE ¢ | V/UV | speaker | content |", "|---|---|---|---|---|---|"]
    for label, (_, m) in zip(("A", "B"), result.converted, strict=True):
        cells = [m.get(k) for k in ("mcd_db", "f0_rmse_cents", "vuv_error", "speaker_similarity", "content_similarity")]
        rows.append(f"| {label} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in cells) + " |")
    (a, _), (b, _) = result.converted
    return (16000, result.original), (16000, a), (16000, b), "\n".join(rows)


def wire(ev: Events, ab: ABWidgets, name: gr.Textbox) -> None:
    ev.on(ab.refresh.click, ab_lists, NameForm, {"name": name}, [ab.piece, ab.model_a, ab.model_b],
          api_name="ab_lists")  # fmt: skip
    ev.on(ab.play.click, ab_play, ABForm,
          {"name": name, "piece": ab.piece, "model_a": ab.model_a, "model_b": ab.model_b},
          [ab.original, ab.audio_a, ab.audio_b, ab.table], own_thread=True, api_name="ab_compare")  # fmt: skip


def eval_plot() -> gr.LinePlot:
    return gr.LinePlot(x="epoch", y="value", color="series", title=title("Evaluation (best epoch marked)"),
                       elem_id="tr-eval-plot")  # fmt: skip
