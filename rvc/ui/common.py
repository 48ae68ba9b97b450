"""What every tab shares: the page's translations, errors as the page shows them, the job's progress line and the
widgets that several steps use."""

from __future__ import annotations

import html
from typing import Any, cast

import gradio as gr

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


def embedder_box(elem_id: str, allow_server_paths: bool) -> gr.Textbox:
    """Own HuBERT/ContentVec model: a server path, so shown only where server paths are allowed."""
    return gr.Textbox(
        label=L("Own HuBERT/ContentVec model (folder or .pt on the server; empty: hubert_base)"),
        visible=allow_server_paths,
        elem_id=elem_id,
    )


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
