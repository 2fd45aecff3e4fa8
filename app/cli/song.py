"""`python -m app song "DESCRIPTION" --out FILE`: the whole job headless (LLM, music, history)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heartmula_core.cli import add_threads_arg, read_text_file
from heartmula_core.threads import use_threads


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("song", help="describe a song, get a song file (LLM, then music, then history)")
    p.add_argument("description", nargs="?", default="",
                   help='what the song is, e.g. "energetic summer pop about traveling" (not with --continue)')
    p.add_argument("--lyrics-file", type=Path,
                   help="your lyrics (the LLM then writes only title and tags); with --continue, the new lyrics that "
                   "follow the old ones")
    p.add_argument("--title", default="")
    p.add_argument("--tags", default="", help="comma-separated tags (the LLM writes them when empty)")
    p.add_argument("--seconds", type=float, default=None,
                   help="the song's length (default 30); with --continue, the seconds to add (default 30), or with "
                   "--from the redone song's whole length (default: the take's)")
    p.add_argument("--continue", dest="parent", metavar="SONG_ID[:TAKE]",
                   help="extend take TAKE (default 1) of a kept song: a new song that starts with it")
    p.add_argument("--continue-audio", dest="recording", type=Path, metavar="FILE",
                   help="start from your own recording (wav, flac, ogg, mp3): it is turned into tokens with the "
                   "HeartCodec encoder, kept in history with --title, --tags (needed) and the description, then "
                   "extended like --continue")
    p.add_argument("--recording-lyrics", type=Path, metavar="FILE",
                   help="with --continue-audio: the words sung in the recording (the new ones go in --lyrics-file)")
    p.add_argument("--from", dest="cut", metavar="TIME",
                   help="with --continue or --continue-audio: keep the take up to TIME (seconds or mm:ss) and make "
                   "the rest again")
    p.add_argument("--variants", type=int, default=1)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--backend", choices=("ollama", "openai"), default=None, help="the LLM (default: the setting)")
    p.add_argument("--model", default="", help="the LLM model (default: the setting)")
    p.add_argument("--env-file", default=None, help="a .env file with HEARTSONG_* settings (default ./.env)")
    p.add_argument("--out", type=Path, required=True, help="the audio file (.wav, .flac, .mp3, .ogg)")
    add_threads_arg(p, default_help="the setting HEARTSONG_THREADS, else half the cores")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heartmula_core.audio import SUPPORTED_EXTENSIONS, read_audio, write_audio
    from heartmula_core.cli import check_extension

    from app.settings import load_settings
    from app.studio.errors import StudioError, explain
    from app.studio.jobs import MusicSettings, Progress, Sheet, SheetWritten
    from app.studio.headless import DEFAULT_SECONDS, compose_new, kept_song
    from app.studio.recordings import RecordingKept
    from app.studio.service import Studio

    check_extension("--out", args.out, SUPPORTED_EXTENSIONS)
    if not args.out.parent.is_dir():  # before the LLM and the music, not after them
        raise ValueError(f"--out: the folder {args.out.parent} does not exist")
    lyrics = read_text_file("--lyrics-file", args.lyrics_file) if args.lyrics_file else ""
    settings = load_settings(args.env_file, **({"threads": args.threads} if args.threads else {}))
    use_threads(settings.threads)
    studio = Studio(settings)
    music = MusicSettings(variants=args.variants, seed=args.seed, lm_variant=settings.lm_variant)
    if args.recording_lyrics is not None and args.recording is None:
        raise ValueError("--recording-lyrics goes with --continue-audio FILE")
    if args.recording is not None:
        if args.parent is not None:
            raise ValueError("continue a kept song (--continue) or a recording (--continue-audio), not both")
        events = recording_events(studio, args, lyrics, music)
    elif args.parent is None:
        if args.cut is not None:
            raise ValueError("--from goes with --continue SONG_ID[:TAKE] or --continue-audio FILE")
        if not args.description.strip():
            raise ValueError("describe the song (the first argument), or --continue a kept one")
        seconds = DEFAULT_SECONDS if args.seconds is None else args.seconds
        sheet = Sheet(args.description, args.title, lyrics, args.tags, seconds)
        choice = studio.llm_choice(args.backend or settings.llm_backend, model=args.model)
        events = compose_new(studio, sheet, music, choice)
    else:
        events = continue_events(studio, args, lyrics, music)
    shown = [""]

    def show(event: object) -> None:
        if isinstance(event, Progress) and event.describe() != shown[0]:
            shown[0] = event.describe()
            print(shown[0], file=sys.stderr)
        elif isinstance(event, SheetWritten):
            print(f"written: {event.sheet.title!r}, tags {event.sheet.tags!r}", file=sys.stderr)
        elif isinstance(event, RecordingKept):
            print(f"kept the recording in history as {event.song.id}: {event.song.title}", file=sys.stderr)

    try:
        song = kept_song(events, show)
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        raise StudioError(message) from None
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


def parse_song_take(text: str) -> tuple[str, int | None]:
    """"SONG_ID" or "SONG_ID:TAKE" -> (id, take or None); ValueError for anything else."""
    song_id, _, take = text.partition(":")
    if not song_id.strip() or (take and not take.strip().isdigit()):
        raise ValueError(f"--continue takes SONG_ID or SONG_ID:TAKE (e.g. 20261204-091500-a1b2c3:2), not {text!r}")
    return song_id.strip(), int(take) if take else None


def continue_events(studio, args: argparse.Namespace, lyrics: str, music):
    """The Studio's events for --continue: an extension by --seconds, or with --from a redo to --seconds in all."""
    from heartmula_core.request import parse_time

    from app.studio.continuing import find_take

    if args.description.strip() or args.title or args.tags:
        raise ValueError("a continued song keeps its description, title and tags: give only --lyrics-file")
    song_id, take = parse_song_take(args.parent)
    if args.cut is None:
        seconds = 30.0 if args.seconds is None else args.seconds
        return studio.continue_song(song_id, take, "extend", seconds=seconds, new_lyrics=lyrics, music=music)
    if lyrics:
        raise ValueError("a redo keeps the song's lyrics: --lyrics-file is for an extension")
    parent = studio.song(song_id)
    seconds = args.seconds if args.seconds is not None else parent.seconds
    find_take(parent, take)  # a wrong take number is named before the time is checked against it
    return studio.continue_song(song_id, take, "redo", seconds=seconds, from_seconds=parse_time(args.cut), music=music)


def recording_events(studio, args: argparse.Namespace, lyrics: str, music):
    """The Studio's events for --continue-audio: the recording kept as a song, then extended by --seconds, or
    with --from redone to --seconds in all (default: the recording's length)."""
    from heartmula_core.request import parse_time

    from app.studio.jobs import Sheet

    words = read_text_file("--recording-lyrics", args.recording_lyrics) if args.recording_lyrics else ""
    sheet = Sheet(args.description, args.title, words, args.tags)
    if args.cut is None:
        seconds = 30.0 if args.seconds is None else args.seconds
        return studio.continue_recording(args.recording, sheet, "extend", seconds=seconds, new_lyrics=lyrics,
                                         music=music)
    if lyrics:
        raise ValueError("a redo keeps the recording's lyrics: --lyrics-file is for an extension")
    if args.seconds is None:
        audio, rate = studio.check_recording(args.recording)
        args.seconds = audio.shape[-1] / rate
    return studio.continue_recording(args.recording, sheet, "redo", seconds=args.seconds,
                                     from_seconds=parse_time(args.cut), music=music)
