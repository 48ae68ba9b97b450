"""The command line's error contract: a user's error is one line on stderr and exit 1, never a traceback; with
--json it is also JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import tiny_model, tone, write_wav

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rvc", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )


def offline_infer(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    model = tiny_model(tmp_path / "model.pth")
    audio = write_wav(tmp_path / "in.wav", tone(1.0, 16000), 16000)
    env = {"RVC_OFFLINE": "1", "RVC_PRETRAINED_DIR": str(tmp_path / "no-weights")}  # HuBERT not downloaded yet
    args = ["infer", str(model), str(audio), str(tmp_path / "out.wav"), "--f0-method", "pm", *extra]
    return cli(*args, env=env)


def test_missing_weights_offline_is_one_line_with_the_hint(tmp_path):
    r = offline_infer(tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "is missing and downloads are off" in errors[0] and "https://" in errors[0]
    assert not (tmp_path / "out.wav").exists()


def test_missing_weights_offline_as_json(tmp_path):
    r = offline_infer(tmp_path, "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    assert out["kind"] == "WeightsError" and "downloads are off" in out["error"]


def test_a_bad_setting_is_a_user_error(tmp_path):
    r = offline_infer(tmp_path, "--index-rate", "3")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "index rate must be between 0 and 1" in r.stderr


def test_the_command_line_imports_no_torch_until_a_command_needs_it():
    """Preprocessing and pm pitch run without torch (its import costs about a second and 400 MB in each process
    and worker): building the command line imports none of it."""
    code = "import sys, rvc.cli; rvc.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
