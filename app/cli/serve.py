"""`python -m app serve` (the default): the web app. Until the page lands, say what exists today."""

from __future__ import annotations

import argparse

NOT_YET = """Heartsong's web page is not built yet (it is being written; see the README).
What works today, headless:
  python -m heartmula_core --help       the engine's commands (tokens, decode, ...)
  ./run.sh test                         the test suite"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the web app (the default command)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(NOT_YET)
    return 0
