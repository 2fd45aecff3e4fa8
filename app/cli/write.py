"""`python -m app write`: let the LLM fill a song sheet's open fields and print the sheet as JSON.

    python -m app write --description "energetic summer pop about traveling" --fill title,lyrics,tags
    python -m app write --description "..." --lyrics-file draft.txt --fill lyrics --instruction "make it rhyme"

Prints one JSON object on stdout: title, lyrics, tags, description, seconds, repairs. A server that is down,
too slow, or answers junk twice is one line on stderr naming the backend and URL, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from heartmula_core.cli import read_text_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("write", help="fill a song sheet's open fields with the LLM and print it as JSON")
    p.add_argument("--description", default="", help="what the song is; a line wholly in double quotes is kept")
    p.add_argument("--title", default="")
    lyrics = p.add_mutually_exclusive_group()
    lyrics.add_argument("--lyrics", default=None, help="lyrics text (lines in double quotes are kept verbatim)")
    lyrics.add_argument("--lyrics-file", type=Path, default=None, help="read the lyrics from this file")
    p.add_argument("--tags", default="", help="comma-separated tags")
    p.add_argument("--fill", required=True, help="fields the LLM writes: any of description,title,lyrics,tags")
    p.add_argument("--instruction", default="", help="with --fill lyrics: rewrite the given lyrics per this")
    p.add_argument("--seconds", type=float, default=None, help="song length, which sizes the lyrics")
    p.add_argument("--backend", choices=("ollama", "openai"), default=None, help="default: HEARTSONG_LLM_BACKEND")
    p.add_argument("--base-url", default=None, help="the server's base URL (default from settings)")
    p.add_argument("--model", default=None, help="the model name (default from settings)")
    p.add_argument("--timeout", type=float, default=None, help="seconds one LLM request may take")
    p.add_argument("--prompts", type=Path, default=None, help="a prompts folder (default: the repository's)")
    p.add_argument("--env-file", type=Path, default=None, help="settings file (default: ./.env)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.songwriter import SongwriterError

    try:
        return _write(args)
    except SongwriterError as exc:  # LLMError, SheetError: already one line; the dispatcher prints ValueErrors
        raise ValueError(str(exc)) from None
    except ValidationError as exc:  # a bad setting or --seconds: one line, not pydantic's block
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"invalid {where}: {err['msg']}") from None


def _write(args: argparse.Namespace) -> int:
    from app.settings import load_settings
    from app.songwriter import SongSheet, SongWriter, make_backend, parse_fill
    from app.songwriter.sheet import DEFAULT_SECONDS

    settings = load_settings(args.env_file)
    backend_name = args.backend or settings.llm_backend
    overrides: dict[str, object] = {}
    if args.base_url:
        overrides["ollama_url" if backend_name == "ollama" else "openai_base_url"] = args.base_url
    if args.model:
        overrides["ollama_model" if backend_name == "ollama" else "openai_model"] = args.model
    if args.timeout is not None:  # --timeout 0 is refused by the setting's check, not silently ignored
        overrides["llm_timeout_s"] = args.timeout
    if overrides:
        # Re-validated, so a bad URL or timeout is the same clear error as in .env.
        settings = settings.model_validate({**settings.model_dump(), **overrides})

    lyrics = read_text_file("--lyrics-file", args.lyrics_file) if args.lyrics_file else (args.lyrics or "")
    sheet = SongSheet(
        description=args.description,
        title=args.title,
        lyrics=lyrics,
        tags=args.tags,
        seconds=DEFAULT_SECONDS if args.seconds is None else args.seconds,
    )
    writer = SongWriter(
        make_backend(settings, backend_name),
        args.prompts,
        max_lyrics_lines=settings.max_lyrics_lines,
        max_lyrics_chars=settings.max_lyrics_chars,
    )
    result = writer.write(sheet, parse_fill(args.fill), instruction=args.instruction)
    out = {**result.sheet.model_dump(include={"title", "lyrics", "tags", "description", "seconds"}),
           "repairs": result.repairs}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0
