"""Handlers take one form, not a row of positional widgets. A form is a frozen dataclass whose fields are named like
the API parameters; :class:`Events` wires a handler to an event with a dict ``{field: component}``, builds the form
from the values the page (or a ``gradio_client`` caller) sends, and calls ``handler(ctx, form)``.

Gradio names an endpoint's parameters after the event function's signature, so the function built here carries a
``__signature__`` with the form's fields in the order of the dict (plus ``lang``, the page's language, filled in by
:data:`~rvc.ui.common.WITH_LANG`): ``/train`` shows ``batch_size``, ``epochs`` … instead of ``param_1`` …
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gradio as gr
from gradio.components import Component
from gradio.events import Dependency

from rvc.core.workers import on_own_thread
from rvc.ui.common import WITH_LANG
from rvc.ui.context import UiContext

F = TypeVar("F", bound="Form")
Reporter = Callable[[str], None]  # a line of what a conversion does now


@dataclass(frozen=True)
class Form:
    """The base of every form: the page's language, last (``kw_only``) so each form lists its own fields first."""

    lang: str = field(default="en", kw_only=True)


@dataclass(frozen=True)
class NameForm(Form):
    """The experiment's name only (open, index, status, stop, zip)."""

    name: str | None = None


PAGE = "page"  # a form field of this name gets the browser page's session id (Gradio's session hash), not a widget


def form_fields(form: type[Form]) -> list[str]:
    """The fields a page fills in (all but ``lang`` and ``page``)."""
    return [f.name for f in dataclasses.fields(form) if f.name not in ("lang", PAGE)]


def make_form(form: type[F], names: Sequence[str], values: Sequence[Any], **page: str) -> F:
    """``form`` from the values of the named components, in order, and the language last."""
    *own, lang = values
    return form(**dict(zip(names, own, strict=True)), lang=lang or "en", **page)


def api_defaults(form: type[Form], names: Sequence[str]) -> dict[str, Any]:
    """The defaults of the last fields in ``names`` that declare one in ``form`` (a run at the end: a parameter
    with a default cannot precede one without). Gradio makes a parameter optional for ``gradio_client`` callers
    when its component has a value or its default is None: a field added later (``probes``, a File with no value)
    so keeps older calls working."""
    declared = {f.name: f.default for f in dataclasses.fields(form) if f.default is not dataclasses.MISSING}
    out: dict[str, Any] = {}
    for n in reversed(names):
        if n not in declared:
            break
        out[n] = declared[n]
    return out


def bind(
    ctx: UiContext,
    handler: Callable[..., Any],
    form: type[F],
    names: Sequence[str],
    *,
    progress: bool = False,
    own_thread: bool = False,
) -> Callable[..., Any]:
    """The event function Gradio calls: named after the handler, with one parameter per field in ``names`` and
    ``lang`` last. ``progress``: the handler also takes a reporter fed to Gradio's progress bar. ``own_thread``:
    it runs on a thread that ends with it, not on Gradio's long-lived worker (torch work: see
    :func:`rvc.core.workers.on_own_thread`)."""
    missing = sorted(set(form_fields(form)) - set(names))
    unknown = sorted(set(names) - set(form_fields(form)))
    if missing or unknown:
        raise TypeError(f"{form.__name__}: components missing for {missing}, no field for {unknown}")

    wants_page = PAGE in {f.name for f in dataclasses.fields(form)}

    def call(values: tuple[Any, ...]) -> Any:
        page = {}
        if wants_page:  # Gradio puts the request in the last parameter's place
            *rest_values, request = values
            values = tuple(rest_values)
            page = {PAGE: str(getattr(request, "session_hash", "") or "")}
        if progress:  # Gradio puts its progress bar in the last parameter's place
            *rest, bar = values
            return handler(ctx, make_form(form, names, rest, **page), lambda line: bar(None, desc=line))
        return handler(ctx, make_form(form, names, values, **page))

    if own_thread and inspect.isgeneratorfunction(handler):
        raise TypeError(f"{handler.__name__}: a generator cannot run on a thread of its own")

    def run(values: tuple[Any, ...]) -> Any:
        return on_own_thread(call, values) if own_thread else call(values)

    if inspect.isgeneratorfunction(handler):

        def event_gen(*values: Any) -> Iterator[Any]:
            yield from call(values)

        event: Callable[..., Any] = event_gen
    else:

        def event_fn(*values: Any) -> Any:
            return run(values)

        event = event_fn
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    defaults = api_defaults(form, names)
    params = [inspect.Parameter(n, kind, **({"default": defaults[n]} if n in defaults else {})) for n in names]
    params.append(inspect.Parameter("lang", kind, default="en"))
    if progress:  # Gradio fills a parameter whose default is a gr.Progress, by position
        params.append(inspect.Parameter("progress_bar", kind, default=gr.Progress()))
    if wants_page:  # Gradio passes the request to a parameter annotated gr.Request
        params.append(inspect.Parameter("request", kind, default=None))
        event.__annotations__ = {"request": gr.Request}
    event.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    event.__name__ = event.__qualname__ = handler.__name__
    event.__doc__ = handler.__doc__
    return event


@dataclass(frozen=True)
class Events:
    """Wires the page's events to handlers; every handler that reports to the user gets the page's language."""

    ctx: UiContext
    lang: gr.Textbox  # the hidden box WITH_LANG fills with the page's language

    def on(
        self,
        event: Callable[..., Dependency],
        handler: Callable[[UiContext, F], Any],
        form: type[F],
        inputs: Mapping[str, Component],
        outputs: Sequence[Component],
        own_thread: bool = False,
        **kw: Any,
    ) -> Dependency:
        """``event`` runs ``handler(ctx, form)``; ``inputs`` name the form's fields, in the API's order.
        ``own_thread``: for a handler that runs torch (see :func:`bind`)."""
        fn = bind(self.ctx, handler, form, list(inputs), own_thread=own_thread)
        return event(fn, [*inputs.values(), self.lang], list(outputs), js=WITH_LANG, **kw)

    def on_progress(
        self,
        event: Callable[..., Dependency],
        handler: Callable[[UiContext, F, Reporter], Any],
        form: type[F],
        inputs: Mapping[str, Component],
        outputs: Sequence[Component],
        **kw: Any,
    ) -> Dependency:
        """As :meth:`on`, for a handler that reports what it does now: ``handler(ctx, form, report)``; a long
        one, run on a thread of its own (its torch work leaves no OpenMP team behind on Gradio's worker)."""
        fn = bind(self.ctx, handler, form, list(inputs), progress=True, own_thread=True)
        return event(fn, [*inputs.values(), self.lang], list(outputs), js=WITH_LANG, **kw)
