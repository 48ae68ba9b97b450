#!/usr/bin/env bash
# Sets everything up (once, test tools and Debian packages included), lints, and runs the whole test suite.
# Extra arguments go to pytest (for example -k slicer).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # types: rvc/ and app.py, the strictness of pyproject.toml
exec .venv/bin/python -m pytest "$@"
