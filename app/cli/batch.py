"""`python -m app batch album.jsonl --out DIR`: an album in one command, stoppable and resumable.

    {"description": "a calm folk song about the sea", "seconds": 60, "seed": 7}
    {"title": "Lanterns", "lyrics": "[verse]\\nglow", "tags": "pop,warm", "variants": 2}

One song a line (app/album/lines.py). The whole file is checked first: a bad line is one error naming it, and
nothing is made. Then each song is written by the LLM where fields are empty, made through the Studio, kept in
History and written into DIR/NN-title/. Ctrl-C drops the song being made and says how to go on; running the
same command again skips the songs already kept (DIR/heartsong-album.json); with another --format it writes
their takes in that format too, from History, beside the earlier files.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from heartmula_core.cli import add_threads_arg
from heartmula_core.threads import use_threads

if TYPE_CHECKING:  # imported when the command runs: the Studio brings numpy and the models' code
    from app.album.runner import AlbumRun, Outcome

EXIT_FAILED = 1  # some songs failed; the rest are kept
EXIT_STOPPED = 130  # Ctrl-C, as the shell reports it


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="make an album: one song a line of a JSONL file, into a folder (resumable)")
    p.add_argument("album", type=Path, help="the album: one JSON object a line (description, title, lyrics, tags, "
                   "seconds, variants, seed); the LLM writes empty title, lyrics and tags")
    p.add_argument("--out", type=Path, required=True,
                   help="the album folder: NN-title/take-N.<format> and sheet.json for each song")
    p.add_argument("--format", default="flac", help="the takes' audio format in the album folder: flac (default), "
                   "wav, mp3 or ogg (History keeps its own copy; a rerun in another format adds it beside the first)")
    p.add_argument("--parallel", type=at_least_one, default=None, metavar="N",
                   help="songs in the Studio at once (default: one per music worker of the Ray cluster, else 1). On "
                   "one machine the music is made one song at a time; more only lets the LLM write the next songs "
                   "meanwhile")
    p.add_argument("--backend", choices=("ollama", "openai"), default=None, help="the LLM (default: the setting)")
    p.add_argument("--model", default="", help="the LLM model (default: the setting)")
    p.add_argument("--env-file", default=None, help="a .env file with HEARTSONG_* settings (default ./.env)")
    add_threads_arg(p, default_help="the setting HEARTSONG_THREADS, else half the cores")
    p.set_defaults(handler=run)


def at_least_one(text: str) -> int:
    """argparse `type=` for --parallel: a whole number from 1 to 64."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to 64, not {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from app.album.board import Board
    from app.album.lines import read_album
    from app.album.manifest import Manifest
    from app.album.runner import AlbumRun
    from app.settings import load_settings
    from app.studio.engines import make_llm_backend
    from app.studio.errors import InvalidInput, StudioError
    from app.studio.headless import open_fields
    from app.studio.history import EXPORT_FORMATS
    from app.studio.service import Studio

    fmt = args.format.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"--format {args.format}: use one of {', '.join(EXPORT_FORMATS)}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file: name a folder for the album")
    songs = read_album(args.album)
    settings = load_settings(args.env_file, **({"threads": args.threads} if args.threads else {}))
    use_threads(settings.threads)
    studio = Studio(settings)
    for song in songs:  # the page's rules for a sheet, checked for every line before any song is made
        try:
            studio.check_sheet(song.sheet, open_fields(song.sheet), need_music=True)
        except InvalidInput as exc:
            raise InvalidInput(f"{args.album} line {song.line_no}: {exc}") from None
    choice = studio.llm_choice(args.backend or settings.llm_backend, model=args.model)
    board = Board(len(songs), sys.stdout, live=sys.stdout.isatty())
    album = AlbumRun(studio, songs, args.out, Manifest(args.out), choice=choice, board=board, fmt=fmt,
                     parallel=args.parallel)
    writes = [song.line_no for song in album.pending() if open_fields(song.sheet)]
    if writes:  # an LLM that is down is one line now, not one failure per song
        health = make_llm_backend(settings, choice).health()
        if not health.ok:
            lines = ", ".join(map(str, writes[:5])) + (", ..." if len(writes) > 5 else "")
            who = f"line {lines} needs" if len(writes) == 1 else f"lines {lines} need"
            raise StudioError(f"{health.message} ({who} it to write their empty fields)".replace(
                "needs it to write their", "needs it to write its"))
    with stop_on_signals(album):
        outcome = album.run()
    return report(outcome, len(songs), args)


@contextlib.contextmanager
def stop_on_signals(album: AlbumRun) -> Iterator[None]:
    """While the album runs, Ctrl-C (or SIGTERM) asks it to stop cleanly; a second Ctrl-C stops at once."""

    def handle(signum: int, frame: object) -> None:
        if album.stopping:
            raise KeyboardInterrupt
        album.stop("stopping: the songs being made are dropped (Ctrl-C again to quit at once)")

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def report(outcome: Outcome, total: int, args: argparse.Namespace) -> int:
    """The closing lines on stderr, and the exit status: 0 all kept, 1 some failed, 2 the album could not go
    on, 130 stopped."""
    rerun = shlex.join(["python", "-m", "app", "batch", str(args.album), "--out", str(args.out)])
    where = f"{outcome.kept} of {total} songs are kept in {args.out}"
    for song, message in outcome.failed:
        if message != outcome.album_failure:  # that one is said once, below
            print(f"line {song.line_no} failed: {message}", file=sys.stderr)
    if outcome.album_failure is not None:
        print(f"error: the album stopped: {outcome.album_failure}", file=sys.stderr)
        print(f"{where}; once that is fixed, run the same command again for the rest: {rerun}", file=sys.stderr)
        return 2
    if outcome.stopped:
        print(f"stopped: {where}. Run the same command again to make the other {total - outcome.kept} (kept songs "
              f"are skipped): {rerun}", file=sys.stderr)
        return EXIT_STOPPED
    if outcome.failed:
        print(f"{where}; run the same command again to retry the {len(outcome.failed)} that failed: {rerun}",
              file=sys.stderr)
        return EXIT_FAILED
    made = f"{len(outcome.made)} made now, {len(outcome.skipped)} kept before"
    print(f"done: {where} ({made})", file=sys.stderr)
    return 0
