"""`python -m heartmula_core transcribe FILE`: the lyrics of a recording, with HeartTranscriptor."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import add_threads_arg
from ._models_args import add_catalogue_args, make_catalogue


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transcribe",
        help="transcribe the sung lyrics of an audio file",
        description="Transcribe the lyrics of a song (WAV, FLAC, OGG or MP3) with HeartTranscriptor. "
        "Works best on a separated vocal track.",
    )
    p.add_argument("file", type=Path, help="the audio file")
    p.add_argument(
        "--model",
        type=Path,
        metavar="DIR",
        help="a HeartTranscriptor-oss folder (default: ckpt/HeartTranscriptor-oss, the Hugging Face cache, "
        "or a download)",
    )
    p.add_argument("--out", type=Path, help="write the lyrics (or the JSON with --json) to this file")
    p.add_argument("--json", action="store_true", help="print JSON with per-line start/end times")
    p.add_argument("--sections", action="store_true", help="guess [verse]/[chorus] where repetition makes it clear")
    p.add_argument("--language", help="language code (en, zh, ...); detected when left out")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default: cpu)")
    p.add_argument("--dtype", default=None, help="float32 or float16 (default: float16 on GPU, float32 on CPU)")
    p.add_argument("--batch-size", type=int, default=4, help="30 s windows per model call (default: 4)")
    p.add_argument("--beams", type=int, default=1, help="beam width (default: 1, greedy)")
    add_catalogue_args(p)
    add_threads_arg(p)
    p.set_defaults(handler=run)


def _write_text(path: Path, text: str) -> None:
    """Atomically: a temp file next to the target, then os.replace (no half-written lyrics file)."""
    import os

    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _stderr_progress(done: int, total: int) -> None:
    if total > 1:  # one window is quick: no progress noise for short clips
        print(f"\rtranscribing: {done}/{total} windows", end="\n" if done == total else "", file=sys.stderr, flush=True)


def check_language(language: str) -> None:
    """A ValueError naming a few codes for a language Whisper does not know (its own message lists all 100)."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

    if language.lower() not in LANGUAGES and language.lower() not in TO_LANGUAGE_CODE:
        raise ValueError(f"--language {language}: not a language Whisper knows; use a code such as en, zh, es, ja")


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from ..transcribe import Transcriber
    from ..weights import parse_device

    parse_device(args.device)  # before the file is read or the model is looked for
    if not args.verbose:  # transformers' load bars and deprecation notes are noise on a command line
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

    if not args.file.is_file():  # before resolving (maybe downloading) the model
        raise FileNotFoundError(f"{args.file}: no such audio file")
    if args.out is not None and not args.out.parent.is_dir():  # before the transcription, not after it
        raise FileNotFoundError(f"the folder {args.out.parent} does not exist")
    if args.language is not None:
        check_language(args.language)
    folder = make_catalogue(args, folders={"transcriptor": args.model}).resolve("transcriptor").path
    dtype = args.dtype or ("float16" if args.device.startswith("cuda") else "float32")
    transcriber = Transcriber(folder, args.device, dtype, batch_size=args.batch_size, beams=args.beams)
    result = transcriber.transcribe(
        args.file, language=args.language, sections=args.sections, progress=_stderr_progress
    )
    if not result.lines:
        print(f"note: no sung words were heard in {args.file}", file=sys.stderr)
    text = json.dumps(result.to_dict(), ensure_ascii=False, indent=2) if args.json else result.text
    if args.out:
        _write_text(args.out, text + "\n")
    else:
        print(text)
    return 0
