"""`python -m heartmula_core embed`: a reference recording or a sentence -> a MuQ-MuLan style vector (.npy)."""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

from . import add_threads_arg, check_extension, positive_number
from ._models_args import add_catalogue_args, make_catalogue


def register(sub: argparse._SubParsersAction) -> None:
    from ..hub.catalogue import DEFAULT_STYLE

    parser = sub.add_parser(
        "embed",
        help="embed reference audio or a style text with MuQ-MuLan (writes a float32 [512] .npy)",
        description="Compute the 512-d MuQ-MuLan style vector of a reference recording (any length, rate "
        "and channel count) or of a sentence describing the sound. MuQ-MuLan weights are CC BY-NC 4.0 "
        "(non-commercial use only).",
    )
    parser.add_argument(
        "--style", default=DEFAULT_STYLE, metavar="DIR",
        help="MuQ-MuLan folder, or the catalogue name 'style' (default; downloaded on first use)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", type=Path, metavar="FILE", help="reference recording (wav, flac, ogg, mp3)")
    source.add_argument("--text", metavar="TEXT", help="a sentence describing the style")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the .npy")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--max-seconds", type=positive_number, default=None, metavar="S",
                        help="longest reference accepted")
    add_catalogue_args(parser)
    add_threads_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..style import StyleEncoder
    from ..style.encoder import DEFAULT_MAX_SECONDS
    from ..weights import parse_device

    parse_device(args.device)  # before anything is read or loaded
    check_extension("--out", args.out, (".npy",))
    if not args.out.parent.is_dir():
        raise ValueError(f"--out: folder {args.out.parent} does not exist")
    if args.audio is not None and not args.audio.is_file():
        raise ValueError(f"--audio: no such file {args.audio}")
    encoder = StyleEncoder.load(
        args.style, args.dtype, args.device,
        max_seconds=args.max_seconds or DEFAULT_MAX_SECONDS, catalogue=make_catalogue(args),
    )
    embedding = encoder.embed_audio(args.audio) if args.audio is not None else encoder.embed_text(args.text)
    tmp = args.out.with_name(f".{args.out.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, embedding.numpy().astype(np.float32))
        os.replace(tmp, args.out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"{args.out}: float32 [{embedding.shape[0]}], norm {float(embedding.norm()):.4f}")
    return 0
