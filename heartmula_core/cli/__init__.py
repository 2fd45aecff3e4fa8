"""`python -m heartmula_core COMMAND ...`: headless use of the engine.

Each command is a module in this package with `register(subparsers)`, which adds its sub-parser and
sets `handler`. Commands are discovered, so adding one is adding a file. A handler raises
HeartmulaError (or OSError/ValueError) for anything the user can fix; `main` turns that into one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import InvalidRequest
from ..request import MAX_SEED

EXIT_USAGE = 2
MAX_GUIDANCE = 20.0  # as the LM's cfg (request.MusicRequest): far past any useful scale


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (argparse prints the whole usage block by default)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def positive_number(text: str) -> float:
    """argparse `type=` for a limit that must be a finite number above 0 (`--max-seconds -1` is refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def seed_number(text: str) -> int:
    """argparse `type=` for a seed: a whole number from 0 to MAX_SEED, as `generate` takes (torch would take
    `--seed -1` as another seed, so the same song could not be asked for again by the number printed)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}, not {text}")
    return value


def guidance_scale(text: str) -> float:
    """argparse `type=` for the codec's guidance: 1 (off) to MAX_GUIDANCE; below 1 would be taken as off unsaid."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 1.0 <= value <= MAX_GUIDANCE):
        raise argparse.ArgumentTypeError(f"must be a number from 1 (no guidance) to {MAX_GUIDANCE:g}, not {text}")
    return value


def check_extension(option: str, path: Path, allowed: Sequence[str]) -> str:
    """`path`'s extension (".wav"), lower-cased, if it is one of `allowed`; else a ValueError naming `option`.
    Every command that writes a file by its extension asks this, so none silently writes another kind."""
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ValueError(f"{option} {path}: unknown extension; use one of {', '.join(allowed)}")
    return suffix


def read_text_file(option: str, path: Path) -> str:
    """The UTF-8 text of `path` (a lyrics file), or a one-line ValueError naming `option` and what is wrong."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{option} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"{option} {path}: {exc.strerror or exc}") from None


NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file


def load_npy(option: str, path: Path):
    """The array in the .npy file `path`, or a one-line ValueError naming `option` that says what is wrong.
    A file that is not a .npy at all (lyrics.txt given by mistake) is said to be so: numpy's own message for it
    talks about pickled data, which would send the musician the wrong way."""
    import numpy as np

    try:
        with open(path, "rb") as f:
            is_npy = f.read(len(NPY_MAGIC)) == NPY_MAGIC
            f.seek(0)
            array = np.load(f, allow_pickle=False) if is_npy else None
    except FileNotFoundError:
        raise ValueError(f"{option} {path}: no such file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{option} {path}: not a readable .npy array ({exc})") from None
    if array is None:
        raise ValueError(f"{option} {path}: not a .npy file (numpy's format, as `tokens --out` writes it)")
    return array


def build_parser(prog: str, description: str, package: str, path: Sequence[str]) -> argparse.ArgumentParser:
    """A parser whose sub-commands are the public modules of `package` (each with `register(sub)`)."""
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens on stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}").register(sub)
    return parser


def add_threads_arg(parser: argparse.ArgumentParser, default_help: str = "half the cores, at least 1") -> None:
    """--threads N: torch's CPU threads for this command (applied by `run_command` before the handler runs)."""
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help=f"CPU threads for torch (default: {default_help}; on a busy machine fewer is faster)")


def add_cuda_graph_arg(parser: argparse.ArgumentParser) -> None:
    """--cuda-graph: replay the LM's later frames from a CUDA graph (`check_cuda_graph` refuses it off CUDA)."""
    parser.add_argument("--cuda-graph", action="store_true",
                        help="on a CUDA GPU, replay the LM's frames from a CUDA graph (one launch a frame instead of "
                        "about 2,000; not yet measured on a GPU)")


def check_cuda_graph(args: argparse.Namespace, device: str) -> None:
    """InvalidRequest when --cuda-graph was given for a device that is not a CUDA GPU (before any model loads)."""
    if args.cuda_graph and not str(device).startswith("cuda"):
        raise InvalidRequest(f"--cuda-graph needs a CUDA device, not {device}")


def run_command(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, user_errors: tuple[type[BaseException], ...]
) -> int:
    """Parse, run the chosen handler, and turn `user_errors` into one line on stderr with exit status 2."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        if "threads" in vars(args):
            from ..threads import use_threads

            use_threads(args.threads)
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("stopped.", file=sys.stderr)
        return 130
    except user_errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    from ..errors import HeartmulaError

    parser = build_parser("python -m heartmula_core", "Heartsong's HeartMuLa engine, headless.", __name__, __path__)
    return run_command(parser, argv, (HeartmulaError, OSError, ValueError))
