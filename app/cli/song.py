"""`python -m app song "DESCRIPTION" --out FILE`: the whole job headless (LLM, music, history)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heartmula_core.cli import add_threads_arg
from heartmula_core.threads import use_threads


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("song", help="describe a song, get a song file (LLM, then music, then history)")
    p.add_argument("description", help='what the song is, e.g. "energetic summer pop about traveling"')
    p.add_argument("--lyrics-file", type=Path, help="your lyrics (the LLM then writes only title and tags)")
    p.add_argument("--title", default="")
    p.add_argument("--tags", default="", help="comma-separated tags (the LLM writes them when empty)")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--variants", type=int, default=1)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--backend", choices=("ollama", "openai"), default=None, help="the LLM (default: the setting)")
    p.add_argument("--model", default="", help="the LLM model (default: the setting)")
    p.add_argument("--env-file", default=None, help="a .env file with HEARTSONG_* settings (default ./.env)")
    p.add_argument("--out", type=Path, required=True, help="the audio file (.wav, .flac, .mp3, .ogg)")
    add_threads_arg(p, default_help="the setting HEARTSONG_THREADS, else half the cores")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heartmula_core.audio import read_audio, write_audio

    from app.settings import load_settings
    from app.studio.errors import StudioError, explain
    from app.studio.jobs import Finished, MusicSettings, Progress, Sheet, SheetWritten
    from app.studio.service import Studio

    if args.out.suffix.lower().lstrip(".") not in ("wav", "flac", "mp3", "ogg"):
        raise ValueError(f"--out must end in .wav, .flac, .mp3 or .ogg, not {args.out.name!r}")
    lyrics = args.lyrics_file.read_text(encoding="utf-8") if args.lyrics_file else ""
    settings = load_settings(args.env_file, **({"threads": args.threads} if args.threads else {}))
    use_threads(settings.threads)
    studio = Studio(settings)
    sheet = Sheet(args.description, args.title, lyrics, args.tags, args.seconds)
    fill = frozenset(f for f in ("title", "lyrics", "tags") if not getattr(sheet, f).strip())
    choice = studio.llm_choice(args.backend or settings.llm_backend, model=args.model)
    music = MusicSettings(variants=args.variants, seed=args.seed, lm_variant=settings.lm_variant)
    song = None
    last = ""
    try:
        for event in studio.compose(sheet, fill, music, choice if fill else None):
            if isinstance(event, Progress) and event.describe() != last:
                last = event.describe()
                print(last, file=sys.stderr)
            elif isinstance(event, SheetWritten):
                print(f"written: {event.sheet.title!r}, tags {event.sheet.tags!r}", file=sys.stderr)
            elif isinstance(event, Finished):
                song = event.song
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        raise StudioError(message) from None
    assert song is not None  # compose ends with Finished or raises
    outputs = []
    for take in song.takes:
        target = args.out if len(song.takes) == 1 else args.out.with_name(f"{args.out.stem}-{take.index}{args.out.suffix}")
        audio, rate = read_audio(take.audio)
        write_audio(target, audio, rate, title=song.title or None)
        outputs.append(target)
    print(f"kept in history as {song.id}: {song.title or 'Untitled'}", file=sys.stderr)
    for path in outputs:
        print(path)
    return 0
