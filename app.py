"""RVC Studio web UI: the launcher. The page itself is built in :mod:`rvc.ui` (one module per tab and step).

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--auth user:pass] [--logs-dir DIR]
                  [--allow-server-paths]

Every handler of the page only adapts a form to a function of ``rvc`` and turns its typed errors into messages on
the page. Long steps run as jobs (``rvc.jobs.registry``) outside the request: the page follows them, and a reload or
a closed tab changes nothing for them. Starting the app imports no torch and loads no model.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from pathlib import Path
from typing import Any

from rvc.core.experiment import default_logs_dir
from rvc.hub.spaces import detect_space
from rvc.ui.app import Page, build_demo, build_page
from rvc.ui.common import I18N, SERVER_FOLDER, UPLOAD
from rvc.ui.context import AppSettings
from rvc.ui.train.training import training_text

__all__ = [
    "SERVER_FOLDER",
    "UPLOAD",
    "AppSettings",
    "Page",
    "build_demo",
    "build_page",
    "launch_options",
    "main",
    "parse_args",
    "training_text",
]

logger = logging.getLogger("rvc.app")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="RVC Studio web app")
    env = os.environ
    space = detect_space()
    # GRADIO_SERVER_NAME/PORT are how Hugging Face Spaces (and Docker setups) tell the app where to listen
    default_host = "0.0.0.0" if space else "127.0.0.1"
    host = env.get("RVC_HOST") or env.get("GRADIO_SERVER_NAME") or default_host
    port = int(env.get("RVC_PORT") or env.get("GRADIO_SERVER_PORT") or 7860)
    p.add_argument("--host", default=host, help=f"address to listen on (default {host})")
    p.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    p.add_argument("--share", action="store_true", help="also create a temporary public gradio.live link")
    p.add_argument("--auth", default=os.environ.get("RVC_AUTH"), help="user:pass required to open the app ($RVC_AUTH)")
    p.add_argument("--logs-dir", type=Path, default=None, help="experiments folder (default $RVC_LOGS_DIR or ./logs)")
    p.add_argument(
        "--allow-server-paths",
        action="store_true",
        help="let the page read folders on this machine even when others can reach it (shared link, non-local host)",
    )
    args = p.parse_args(argv)
    if args.auth is not None and (":" not in args.auth or args.auth.startswith(":")):
        p.error("--auth must look like user:password")
    return args


def settings_from(args: argparse.Namespace) -> tuple[AppSettings, bool]:
    """The app's settings for these arguments and environment, and whether others can reach it."""
    space = detect_space()
    public = bool(args.share or space or not _is_loopback(args.host))
    logs_dir = args.logs_dir or (space.logs_dir if space else None) or default_logs_dir()
    allow = bool(args.allow_server_paths or not public)
    return AppSettings(logs_dir=Path(logs_dir), allow_server_paths=allow, space=space), public


def launch_options(settings: AppSettings, page: Page) -> dict[str, Any]:
    """What ``launch`` gets besides the address: translations, the upload limit, file access limited to the
    experiments and models (the job records and the pretrained weights are never served), and the page's own
    routes (the Live tab's WebSocket)."""
    return {
        "app_kwargs": {"routes": page.routes},
        "i18n": I18N,
        "max_file_size": "1gb",
        "allowed_paths": [str(settings.logs_dir.resolve()), str(settings.weights_dir.resolve())],
        "blocked_paths": [str(Path("pretrained").resolve()), str(settings.logs_dir.resolve() / ".jobs")],
    }


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = parse_args(argv)
    settings, public = settings_from(args)
    if settings.space is not None and settings.space.data_dir is not None:  # weights persist next to the data
        os.environ.setdefault("RVC_PRETRAINED_DIR", str(settings.space.data_dir / "pretrained"))
        os.environ.setdefault("HF_HOME", str(settings.space.data_dir / "hf_home"))
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if public and auth is None and settings.space is None:
        logger.warning("THIS APP IS OPEN TO ANYONE WHO HAS ITS ADDRESS: start it with --auth user:password")
    page = build_page(settings)
    demo = page.demo
    concurrency = settings.space.concurrency if settings.space else 1
    _, _, share_url = demo.queue(max_size=16, default_concurrency_limit=concurrency).launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share and settings.space is None,
        auth=auth,
        prevent_thread_lock=True,
        **launch_options(settings, page),
    )
    if args.share and settings.space is None and not share_url:
        logger.warning(
            "No public link: the share server could not be reached from this machine; the app keeps serving locally"
        )
    demo.block_thread()


if __name__ == "__main__":
    main()
