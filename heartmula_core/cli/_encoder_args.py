"""What `encode` and `reconstruct` share: finding the encoder and codec, reading the recording, the progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import add_threads_arg, positive_number
from ._models_args import add_catalogue_args, make_catalogue

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_SECONDS = 1800.0  # 30 minutes: far beyond a song, still a bounded read


def add_encoder_args(parser: argparse.ArgumentParser) -> None:
    """RECORDING, --encoder, --codec, --batch-size, --device, --max-seconds, --ckpt, --threads."""
    parser.add_argument("recording", type=Path, metavar="RECORDING", help="wav, flac, ogg or mp3; any rate, mono or stereo")
    parser.add_argument(
        "--encoder", type=Path, default=None, metavar="DIR",
        help="HeartCodec-oss-encoder folder (default: the catalogue's 'encoder', downloaded on first use)",
    )
    parser.add_argument(
        "--codec", type=Path, default=None, metavar="DIR",
        help="the HeartCodec decoder whose quantizer the tokens use (default: the catalogue's 'codec')",
    )
    parser.add_argument(
        "--batch-size", type=int, default=1, metavar="N",
        help="29.76 s chunks encoded at once (default 1; memory grows with it)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--max-seconds", type=positive_number, default=DEFAULT_MAX_SECONDS, metavar="S",
        help=f"refuse longer recordings (default {DEFAULT_MAX_SECONDS:.0f})",
    )
    add_catalogue_args(parser)
    add_threads_arg(parser)  # the README's promise: every command that computes takes --threads


def check_args(args: argparse.Namespace, out_suffixes: tuple[str, ...]) -> None:
    """The cheap checks, before torch is imported or a model is looked for."""
    if args.out.suffix.lower() not in out_suffixes:
        raise ValueError(f"--out {args.out}: use one of {', '.join(out_suffixes)}")
    if not args.out.parent.is_dir():
        raise ValueError(f"--out: folder {args.out.parent} does not exist")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")


def encode_recording(args: argparse.Namespace) -> tuple[torch.Tensor, Path]:
    """Read and encode args.recording with a progress bar -> (codes int64 (frames, 8), codec folder)."""
    from tqdm import tqdm

    from ..hub.catalogue import DEFAULT_CODEC, DEFAULT_ENCODER
    from ..codec.encoder import load_encoder
    from ..codec.encoder.chunks import chunk_count
    from ..codec.encoder.recording import read_recording
    from ..codec.encoder.resample import resampled_length
    from ..weights import parse_device

    audio, rate = read_recording(args.recording, max_seconds=args.max_seconds)
    device = parse_device(args.device)
    catalogue = make_catalogue(args, folders={DEFAULT_ENCODER: args.encoder, DEFAULT_CODEC: args.codec})
    codec = catalogue.resolve(DEFAULT_CODEC).path
    encoder = load_encoder(catalogue.resolve(DEFAULT_ENCODER).path, codec, device=device)
    chunks = chunk_count(resampled_length(audio.shape[1], rate, encoder.sample_rate))
    with tqdm(total=chunks, unit="chunk", desc="encoding", file=sys.stderr, disable=chunks < 2) as bar:
        codes = encoder.tokenize(
            audio, rate, batch_size=args.batch_size, callback=lambda done, total: bar.update(done - bar.n)
        )
    return codes, codec
