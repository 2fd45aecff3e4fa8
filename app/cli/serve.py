"""`python -m app [serve] [--host H] [--port N]`: the Heartsong page, on this computer only unless asked."""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys

from heartmula_core.cli import add_threads_arg
from heartmula_core.threads import use_threads

log = logging.getLogger(__name__)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the web app (the default command)")
    p.add_argument("--host", default=None, help="address to listen on (default: the setting, 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=None, help="port (default: the setting, 7860)")
    p.add_argument("--env-file", default=None, help="a .env file with HEARTSONG_* settings (default ./.env)")
    add_threads_arg(p, default_help="the setting HEARTSONG_THREADS, else half the cores")
    p.set_defaults(handler=run)


def port_number(text: str) -> int:
    """argparse `type=` for a TCP port: a whole number from 1 to 65535 (99999 is refused, not a traceback)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {port}")
    return port


def port_taken(host: str, port: int) -> bool:
    """Whether another program listens on `port` at `host` (a bind that fails with "address in use")."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):
            return False
    except OSError as exc:  # any other failure (a host that does not resolve) is left to the server to report
        return exc.errno == errno.EADDRINUSE


def run(args: argparse.Namespace) -> int:
    from app.settings import load_settings
    from app.studio.service import Studio
    from app.ui import launch_app

    settings = load_settings(args.env_file, **({"threads": args.threads} if args.threads else {}))
    use_threads(settings.threads)
    host = args.host or settings.host
    port = args.port or settings.port
    if host not in LOCAL_HOSTS:
        print(
            f"warning: listening on {host}: anyone who can reach this computer on port {port} can use Heartsong "
            "and its LLM key. Use the default (127.0.0.1) unless you mean it.",
            file=sys.stderr,
        )
    if port_taken(host, port):  # before "running" is printed; gradio's own message names its launch() parameters
        raise ValueError(f"port {port} is in use (another Heartsong?): choose another with --port N or HEARTSONG_PORT")
    studio = Studio(settings)
    print(f"Heartsong is running at http://{'127.0.0.1' if host in LOCAL_HOSTS else host}:{port}  (Ctrl-C stops it)",
          file=sys.stderr)
    launch_app(studio, host, port, block=True)
    return 0
