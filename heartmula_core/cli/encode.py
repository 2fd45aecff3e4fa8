"""`python -m heartmula_core encode`: a recording -> HeartMuLa tokens (int64 [frames, 8] .npy)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._encoder_args import add_encoder_args, check_args, encode_recording
from .decode import NPY


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "encode",
        help="encode a recording into HeartMuLa tokens (int64 [frames, 8] .npy) with the HeartCodec encoder",
        description="Turn a recording (wav, flac, ogg, mp3; any rate; mono or stereo) into the eight 12.5 Hz "
        "token streams the HeartMuLa LM speaks, with the official HeartCodec-oss-encoder and the quantizer of "
        "the HeartCodec decoder it pairs with. Writes int64 [frames, 8], the layout `tokens` writes and "
        "`decode` reads. Long recordings are encoded 29.76 s at a time, so memory does not grow with length.",
    )
    add_encoder_args(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.npy")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..codec.encoder.config import FRAME_RATE
    from .decode import save_npy

    check_args(args, (NPY,))
    codes, _ = encode_recording(args)
    save_npy(args.out, codes.numpy())
    print(f"{args.out}: int64 [{codes.shape[0]}, {codes.shape[1]}] ({codes.shape[0] / FRAME_RATE:.2f} s of tokens)")
    return 0
