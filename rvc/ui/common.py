"""What every tab shares: the page's translations, errors as the page shows them, the job's progress line and the
widgets that several steps use."""

from __future__ import annotations

import html
from typing import Any, cast

import gradio as gr

from rvc.core.errors import RvcError
from rvc.core.options import OptionSpec
from rvc.jobs.registry import Job
from rvc.ui.i18n import PT, tr

SERVER_FOLDER = "Folder on the server"
UPLOAD = "Upload files or a folder"

Skip = dict  # what gr.skip() returns: the output keeps what it shows

I18N = gr.I18n(pt=PT, **{"pt-BR": PT})
L = I18N  # L("English text"): the label in the browser's language (Settings at the page's foot switches it)
# every event that reports to the user reads the page's current language (set by Gradio's i18n) as its last input
WITH_LANG = "(...a) => { a[a.length - 1] = document.documentElement.lang || navigator.language || 'en'; return a; }"
# the language switch: Gradio's own, in the Settings panel (it re-translates the page and remembers the choice)
OPEN_LANGUAGE_SETTINGS = (
    "() => { const b = [...document.querySelectorAll('footer button, footer a')]"
    ".find(e => /Settings|Configura/i.test(e.textContent)); if (b) b.click(); }"
)


def fail(e: Exception | str, lang: str = "en") -> gr.Error:
    """The error as the page shows it: translated, titled, and left open until closed."""
    return gr.Error(tr(str(e), lang), duration=None, title=tr("Error", lang))


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


MODELS_OWN = ""  # the Infer and Live tabs' embedder choice meaning "the one the model was trained with"


def embedder_box(elem_id: str, allow_server_paths: bool, for_model: bool) -> gr.Dropdown:
    """The content encoder: a named one (downloaded on first use), the model's own (conversion), or, where server
    paths are allowed, a folder or .pt typed in."""
    from rvc.hub.weights import EMBEDDERS

    own = [(L("the model's own"), MODELS_OWN)] if for_model else []
    hint = {
        (True, False): "The model's own: the one it was trained with (another is refused); downloaded on first use",
        (True, True): "The model's own: the one it was trained with (another is refused); or a folder or .pt here",
        (False, False): "contentvec is RVC's; the others are downloaded on first use",
        (False, True): "contentvec is RVC's; the others are downloaded on first use; or a folder or .pt here",
    }[(for_model, allow_server_paths)]
    return gr.Dropdown(
        [*own, *EMBEDDERS], value=MODELS_OWN if for_model else "contentvec", label=L("Embedder (content encoder)"),
        info=L(hint), allow_custom_value=allow_server_paths, elem_id=elem_id,
    )  # fmt: skip


def embedder_value(value: str | None, allow_server_paths: bool) -> str | None:
    """The embedder a form names: a registry name, None for the model's own, or a typed path (where allowed)."""
    from rvc.hub.weights import EMBEDDERS

    text = (value or "").strip()
    if not text or text in EMBEDDERS:
        return text or None
    if not allow_server_paths:
        raise RvcError(f"unknown embedder {text!r}: choose one of the list")
    return text


def title(text: str) -> str:
    """A translated plot title. Gradio translates an ``I18nData`` in any string property; its plots only declare
    their titles as ``str``."""
    return cast(str, L(text))


def slider(option: OptionSpec, label: str, **kw: Any) -> gr.Slider:
    """A slider over the setting's declared range, at its default."""
    if option.minimum is None or option.maximum is None:
        raise TypeError(f"{option.name} is declared without a range: it cannot be a slider")
    return gr.Slider(option.minimum, option.maximum, value=option.default, step=option.step or 1, label=L(label), **kw)


def radio(option: OptionSpec, label: str, **kw: Any) -> gr.Radio:
    """A choice among the setting's declared choices, at its default."""
    if not option.choices:
        raise TypeError(f"{option.name} is declared without choices: it cannot be a radio")
    return gr.Radio(list(option.choices), value=option.default, label=L(label), **kw)


def checkbox(option: OptionSpec, label: str, **kw: Any) -> gr.Checkbox:
    """An on/off setting, at its default."""
    return gr.Checkbox(bool(option.default), label=L(label), **kw)
