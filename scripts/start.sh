#!/usr/bin/env bash
# Sets everything up (once) and starts the app on http://127.0.0.1:7860. Extra arguments go to app.py
# (for example --port 7861, --share, --auth user:pass, --logs-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python app.py "$@"
