"""The layout the README draws, checked statically from the source: no import cycles between modules (imports
inside functions included), each part imports only the parts below it, Gradio only in the UI, torch not in the
parts that must start without it, and the size limits that keep every function readable on a screen."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rvc"

# what each part may import (besides itself); app.py is the launcher on top of the UI
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "audio": {"core"},
    "nn": {"core"},
    "hub": {"core"},
    "jobs": {"core"},
    "models": {"core", "nn"},
    "pitch": {"core", "audio", "nn", "hub"},
    "content": {"core", "audio", "nn", "hub"},
    "inference": {"core", "audio", "nn", "hub", "pitch", "content", "models"},
    "evaluation": {"core", "audio", "nn", "hub", "pitch", "content", "models", "inference"},
    "steps": {"core", "audio", "nn", "hub", "jobs", "pitch", "content", "models", "inference", "evaluation"},
    "live": {"core", "audio", "nn", "hub", "pitch", "content", "models", "inference"},
    "ui": {"core", "audio", "hub", "jobs", "models", "pitch", "inference", "evaluation", "steps", "live"},
    "cli": {"core", "audio", "nn", "hub", "pitch", "content", "models", "inference", "evaluation", "steps", "live"},
    "__init__": set(),
    "__main__": {"cli"},
}
TORCH_FREE = ("core", "audio", "jobs")  # the app starts and the jobs run their bookkeeping without torch
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500
MAX_APP_LINES = 200


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def sources() -> dict[str, Path]:
    found = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    found["app"] = ROOT / "app.py"
    return found


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(sources()[name].read_text(encoding="utf-8"))


def is_package(name: str) -> bool:
    return sources()[name].name == "__init__.py"


def imported(name: str) -> set[str]:
    """Every module ``name`` imports anywhere in its source (top level, functions, TYPE_CHECKING blocks)."""
    out: set[str] = set()
    base = name if is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                target = f"{anchor}.{node.module}" if node.module else anchor
            else:
                target = node.module or ""
            # `from rvc.models import checkpoint` names a submodule; `from rvc.models import load_generator` the package
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in sources()}
            out.update(subs or {target})
            if len(subs) < len(node.names) and subs:
                out.add(target)
    return out


def internal_edges() -> dict[str, set[str]]:
    return {m: {t for t in imported(m) if t in sources() and t != m} for m in sources()}


def part(name: str) -> str:
    if name == "app":
        return "app"
    bits = name.split(".")
    if len(bits) == 1:
        return "__init__"
    return bits[1]


def test_every_module_is_in_a_known_part():
    unknown = sorted(m for m in sources() if part(m) not in ALLOWED and part(m) != "app")
    assert not unknown, f"modules outside the README's parts: {unknown}"


def test_no_import_cycles():
    edges = internal_edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_parts_import_only_the_parts_below_them():
    wrong = []
    for m, targets in internal_edges().items():
        src = part(m)
        if src == "app":
            continue
        for t in targets:
            dst = part(t)
            if dst != src and dst != "__init__" and dst not in ALLOWED[src]:
                wrong.append(f"{m} -> {t}")
    assert not wrong, "imports against the layering (README, Layout):\n" + "\n".join(sorted(wrong))


def test_gradio_only_in_the_ui():
    wrong = [
        m for m in sources() if part(m) not in ("ui", "app") and any(t.split(".")[0] == "gradio" for t in imported(m))
    ]
    assert not wrong, f"gradio imported outside rvc/ui and app.py: {wrong}"


@pytest.mark.parametrize("name", TORCH_FREE)
def test_parts_without_torch(name: str):
    heavy = ("torch", "torchaudio", "transformers", "safetensors.torch")
    wrong = [
        f"{m} imports {t}"
        for m in sources()
        if part(m) == name
        for t in imported(m)
        if t in heavy or t.split(".")[0] == "torch"
    ]
    assert not wrong, wrong


def _function_lengths(name: str):
    for node in ast.walk(tree(name)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_functions_fit_on_a_screen():
    long = [
        f"{sources()[m].relative_to(ROOT)}:{line} {fn} ({n} lines)"
        for m in sorted(sources())
        for fn, line, n in _function_lengths(m)
        if n > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_modules_stay_small():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in sources().items()}
    long = sorted(f"{sources()[m].relative_to(ROOT)} ({n} lines)" for m, n in sizes.items() if n > MAX_MODULE_LINES)
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
    assert sizes["app"] < MAX_APP_LINES, f"app.py is the launcher only: {sizes['app']} lines"


def test_the_checker_sees_imports_inside_functions(tmp_path: Path):
    # the cycle test relies on ast.walk reaching imports in function bodies: keep that true
    code = "def f():\n    from rvc.core import errors\n"
    found = {n.module for n in ast.walk(ast.parse(code)) if isinstance(n, ast.ImportFrom)}
    assert found == {"rvc.core"}
