"""Which content encoder a model uses: the named embedders of the weights registry (Applio's names, stored in a
small model as ``embedder_model``) or a custom folder/file, and the rule that a model converts only with the
embedder it was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rvc.core.errors import EmbedderError
from rvc.core.files import file_hash
from rvc.core.progress import ProgressFn
from rvc.hub.weights import EMBEDDERS as NAMES

DEFAULT = "contentvec"
CUSTOM = "custom"  # Applio's name for an embedder given as files
ALIASES = {"hubert_base": "contentvec", "hubert": "contentvec", "hubert-base": "contentvec"}  # RVC's names


@dataclass(frozen=True)
class EmbedderChoice:
    """A named embedder (``path`` None) or a custom one (``name`` "custom", ``path`` its folder or ``.pt``)."""

    name: str
    path: Path | None = None

    def __str__(self) -> str:
        return f"custom ({self.path})" if self.path is not None else self.name


def canonical(name: str | None) -> str | None:
    """A recorded embedder name as one of :data:`NAMES` or "custom" (RVC's ``hubert_base`` is contentvec)."""
    if name is None or not str(name).strip():
        return None
    key = str(name).strip().lower()
    return ALIASES.get(key, key)


def parse(value: str | Path | None) -> EmbedderChoice | None:
    """What the user chose: None (let the model decide), a registry name, or a path to a custom embedder.

    Raises:
        EmbedderError: neither a known name nor an existing path (the message lists the names).
    """
    if value is None or not str(value).strip():
        return None
    name = canonical(str(value))
    if name in NAMES:
        return EmbedderChoice(name)
    path = Path(str(value)).expanduser()
    if path.exists():
        return EmbedderChoice(CUSTOM, path)
    if any(c in str(value) for c in "/\\") or str(value).endswith((".pt", ".pth", ".bin")):
        raise EmbedderError(f"embedder not found: {path}")
    raise EmbedderError(f"unknown embedder {value!r}: give one of {', '.join(NAMES)} or the path of a folder or .pt")


def for_model(recorded: str | None, chosen: EmbedderChoice | None, model: str = "the model") -> EmbedderChoice:
    """The embedder to convert a model with: the one it was trained with (``recorded``). A choice is taken when it
    is that one, or a path for a custom-trained model; a model that records none (RVC WebUI's, older forks') takes
    any choice and otherwise contentvec, the embedder those were trained with.

    Raises:
        EmbedderError: the choice differs from the model's embedder, or the model needs a custom one and none was
            given; the message says what differs and what to pick.
    """
    own = canonical(recorded)
    if own is None:
        return chosen or EmbedderChoice(DEFAULT)
    if own == CUSTOM:
        if chosen is None or chosen.path is None:
            raise EmbedderError(
                f"{model} was trained with a custom embedder: give its folder or .pt as the embedder"
                + (f" (not {chosen.name})" if chosen else "")
            )
        return chosen
    if own not in NAMES:
        if chosen is not None and chosen.path is not None:
            return chosen  # an embedder we have no name for: the user's files stand for it
        raise EmbedderError(f"{model} was trained with the embedder {recorded!r}, which is not one of "
                            f"{', '.join(NAMES)}: give its folder or .pt as the embedder")  # fmt: skip
    if chosen is None or chosen.name == own:
        return EmbedderChoice(own)
    if chosen.path is not None and identify(chosen) == own:  # the user's own copy of that embedder's files
        return chosen
    copy = f" (a copy of {own} of your own goes in {_home(own)})" if chosen.path is not None else ""
    raise EmbedderError(
        f"{model} was trained with the {own} embedder; {chosen} gives other features, so the voice would come out "
        f"garbled: leave the embedder empty (or {own}) to use {own}{copy}"
    )


def _home(name: str) -> str:
    """Where a named embedder's files live under the pretrained folder (contentvec: RVC's ``hubert_base/``)."""
    from rvc.hub import weights

    files = weights.registry().get(name, ("", ()))[1]
    return f"{weights.pretrained_dir() / Path(files[0].local).parent}/" if files else f"{weights.pretrained_dir()}/"


def locate(choice: EmbedderChoice, on_progress: ProgressFn | None = None) -> Path:
    """The folder or file of an embedder, a named one downloaded and verified on first use."""
    if choice.path is not None:
        return choice.path
    from rvc.hub import weights

    return weights.ensure(choice.name, on_progress=on_progress)


def identify(choice: EmbedderChoice) -> str:
    """The name to record for an embedder: a custom path holding a named embedder's published files (RVC's
    ``hubert_base/`` folder copied by hand, say) is recorded under that name; other paths as "custom"."""
    if choice.path is None:
        return choice.name
    if not choice.path.is_dir():
        return CUSTOM
    from rvc.hub import weights

    reg = weights.registry()
    for name in NAMES:
        files = reg[name][1] if name in reg else ()
        if not files or not all(wf.sha256 for wf in files):
            continue
        main = [wf for wf in files if wf.local.endswith((".bin", ".safetensors"))]
        if not main:
            continue
        mine = choice.path / Path(main[0].local).name
        if mine.is_file() and mine.stat().st_size == main[0].size and file_hash(mine).hexdigest() == main[0].sha256:
            return name
    return CUSTOM
