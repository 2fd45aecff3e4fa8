"""`python -m heartmula_core reconstruct`: encode a recording, then decode the tokens (what the tokens hold)."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from . import guidance_scale, seed_number
from ._encoder_args import add_encoder_args, check_args, encode_recording


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "reconstruct",
        help="encode a recording into tokens and decode them again: hear what the tokens hold",
        description="Encode a recording with the HeartCodec encoder, then decode the tokens with the HeartCodec "
        "decoder it pairs with (float32, as the authors advise for reconstruction) into a 48 kHz stereo file. "
        "What comes out is what the LM would continue from.",
    )
    add_encoder_args(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="wav, flac, ogg or mp3")
    parser.add_argument("--seed", type=seed_number, default=None, help="decoder noise seed (default: random, printed)")
    parser.add_argument("--steps", type=int, default=10, help="flow-matching Euler steps per window (default 10)")
    parser.add_argument("--guidance", type=guidance_scale, default=1.25, help="decoder guidance (default 1.25)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..audio import SUPPORTED_EXTENSIONS

    check_args(args, SUPPORTED_EXTENSIONS)
    if args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    codes, codec_folder = encode_recording(args)

    import torch
    from tqdm import tqdm

    from ..audio import write_audio
    from ..codec import decode_windows, load_heartcodec

    codec = load_heartcodec(codec_folder, "float32", args.device)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    with tqdm(unit="window", desc="decoding", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        windows = decode_windows(
            codec, [codes], generators=[torch.Generator().manual_seed(seed)], steps=args.steps,
            guidance=args.guidance, progress=progress,
        )
        audio = torch.cat([window.audio for window in windows], dim=1).numpy()
    report = write_audio(args.out, audio, codec.sample_rate)
    note = f", scaled by {report.gain:.3f} to avoid clipping" if report.scaled else ""
    print(f"{args.out}: {report.duration_s:.2f} s stereo at {codec.sample_rate} Hz from {codes.shape[0]} frames, "
          f"seed {seed}{note}")
    return 0
