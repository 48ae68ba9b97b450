"""Settings declared once: a config dataclass's fields carry their default, help text, choices and range, and the
CLI and the UI read them from there (no default or choice is restated elsewhere).

    @dataclass(frozen=True)
    class TrainConfig:
        epochs: int = option(20, "total epochs", minimum=1, maximum=1000)

    spec(TrainConfig, "epochs").help        # "total epochs"
    config_from(TrainConfig, {"epochs": 30.0, "batch_size": None})  # TrainConfig(epochs=30), the rest default

:func:`config_from` is the one conversion from user-given values (argparse namespaces, UI forms, job params) to a
config: unknown keys are an error, ``None`` and empty strings mean "the default", and values are coerced to the
field's type (a slider's 8.0 to the int 8, a text box's path to a ``Path``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rvc.core.errors import RvcError

T = TypeVar("T")
_KEY = "rvc.option"


class SettingError(RvcError, ValueError):
    """A setting with a value it cannot take; the message names the setting and what it accepts."""


@dataclass(frozen=True)
class OptionSpec:
    """What the CLI and the UI know of one setting."""

    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None  # the UI slider's step


def option(
    default: Any,
    help: str,
    *,
    choices: Sequence[Any] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    step: float | None = None,
) -> Any:
    """A dataclass field with its default and what people are told about it (``{default}`` in ``help`` is
    replaced by the default)."""
    meta: dict[str, Any] = {"help": help, "choices": tuple(choices) if choices is not None else None}
    meta |= {"minimum": minimum, "maximum": maximum, "step": step}
    if isinstance(default, (list, dict, set)):
        raise TypeError("option() defaults must be immutable (use a tuple)")
    return field(default=default, metadata={_KEY: meta})


def spec(cls: type, name: str) -> OptionSpec:
    """The declared default, help, choices and range of ``cls.name`` (a field declared with :func:`option`)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if _KEY not in f.metadata:
                raise KeyError(f"{cls.__name__}.{name} is not declared with option()")
            default = f.default if f.default is not MISSING else None
            meta = dict(f.metadata[_KEY])
            meta["help"] = meta["help"].replace("{default}", str(default))  # the default is written once
            return OptionSpec(name=name, default=default, **meta)
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def specs(cls: type) -> dict[str, OptionSpec]:
    """Every field of ``cls`` declared with :func:`option`, by name."""
    return {f.name: spec(cls, f.name) for f in dataclasses.fields(cls) if _KEY in f.metadata}


def config_from(cls: type[T], values: Mapping[str, Any], **fixed: Any) -> T:
    """``cls`` built from ``values`` (user input: None or "" keep the default) and ``fixed`` (taken as given)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SettingError(f"{cls.__name__} has no setting {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or (isinstance(value, str) and not value.strip() and _accepts_none(hints[name])):
            continue
        kwargs[name] = _coerce(cls, name, hints[name], value)
    kwargs.update(fixed)
    return cls(**kwargs)


def _accepts_none(hint: Any) -> bool:
    return type(None) in typing.get_args(hint) or hint is Any


def _coerce(cls: type, name: str, hint: Any, value: Any) -> Any:
    """``value`` as the field's type: int, float, bool, str, Path or a Literal's choice (others as given)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]: one value or several (a repeated flag, a file list)
        items = [value] if isinstance(value, (str, Path)) else list(value)
        return tuple(_coerce(cls, name, typing.get_args(hint)[0], v) for v in items if str(v).strip())
    try:
        if typing.get_origin(hint) is typing.Literal:
            if value not in typing.get_args(hint):
                allowed = ", ".join(map(str, typing.get_args(hint)))
                raise SettingError(f"{name} must be one of {allowed}, not {value!r}")
            return value
        if hint is bool:
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if hint is float:
            return float(value)
        if hint is Path:
            return Path(str(value).strip()).expanduser()
        if hint is str:
            return str(value)
    except (TypeError, ValueError) as e:
        if isinstance(e, SettingError):
            raise
        kind = {int: "a whole number", float: "a number", Path: "a path"}.get(hint, str(hint))
        raise SettingError(f"{name} must be {kind}, not {value!r}") from e
    return value
