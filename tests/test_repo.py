"""The repository promises of the README: front matter a Space accepts, the two commands, no weights committed."""

import re
from pathlib import Path

import gradio

ROOT = Path(__file__).resolve().parent.parent


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert block, "README.md must start with the Space's YAML front matter"
    return dict(
        (k.strip(), v.strip().strip('"')) for k, v in (line.split(":", 1) for line in block.group(1).splitlines())
    )


def test_space_front_matter():
    fm = front_matter()
    assert fm["sdk"] == "gradio"
    assert fm["sdk_version"] == gradio.__version__  # the tested version
    assert (ROOT / fm["app_file"]).is_file()
    assert fm["python_version"].startswith("3.11")


def test_readme_shows_the_two_commands_and_ci_uses_the_test_one():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/start.sh" in text and "bash scripts/test.sh" in text
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_requirements_are_pinned():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][^ ]*", line), line
