"""`python -m app [COMMAND ...]`: the web app by default, or a headless command.

Commands are the public modules of this package (each with `register(subparsers)`), discovered the
same way as the engine's CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from heartmula_core.cli import build_parser, run_command

DEFAULT_COMMAND = "serve"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser("python -m app", "Heartsong: describe a song, get a song.", __name__, __path__)
    # `python -m app` and `python -m app --port 8000` mean the web app.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "-v", "--verbose")):
        argv = [DEFAULT_COMMAND, *argv]
    from heartmula_core.errors import HeartmulaError

    from app.studio.errors import StudioError

    return run_command(parser, argv, (HeartmulaError, StudioError, OSError, ValueError))
