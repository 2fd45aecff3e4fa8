"""`python -m heartmula_core decode`: LM tokens (.npy) -> 48 kHz stereo audio with HeartCodec."""

from __future__ import annotations

import argparse
import os
import random
import sys
import uuid
from pathlib import Path

from . import add_threads_arg, check_extension, guidance_scale, load_npy, seed_number

NPY = ".npy"


def register(sub: argparse._SubParsersAction) -> None:
    from ..audio import SUPPORTED_EXTENSIONS

    parser = sub.add_parser(
        "decode",
        help="decode LM tokens [frames, 8] to 48 kHz stereo audio with HeartCodec",
        description="Decode the int64 [frames, 8] token array that `tokens` writes into 48 kHz stereo audio. "
        f"--out FILE.npy writes the raw float32 [2, samples] waveform; {', '.join(SUPPORTED_EXTENSIONS)} write "
        "an audio file. The same tokens, seed, steps and guidance give the same audio.",
    )
    parser.add_argument("--codec", type=Path, required=True, metavar="DIR", help="HeartCodec folder")
    parser.add_argument("--tokens", type=Path, required=True, metavar="FILE", help="int [frames, 8] .npy")
    parser.add_argument("--seed", type=seed_number, default=None, help="noise seed (default: random, printed)")
    parser.add_argument("--steps", type=int, default=10, help="flow-matching Euler steps per window (default 10)")
    parser.add_argument("--guidance", type=guidance_scale, default=1.25, help="classifier-free guidance (default 1.25)")
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="estimator dtype"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help=f"{NPY} or an audio file")
    parser.add_argument(
        "--latents-out", type=Path, default=None, metavar="FILE.npy",
        help="also write each window's final latent, float32 [windows, 744, 256]",
    )
    add_threads_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..audio import SUPPORTED_EXTENSIONS
    from ..weights import parse_device

    check_extension("--out", args.out, (*SUPPORTED_EXTENSIONS, NPY))
    check_folder("--out", args.out)
    if args.latents_out is not None:
        if args.latents_out.suffix.lower() != NPY:
            raise ValueError(f"--latents-out {args.latents_out}: must end in {NPY}")
        check_folder("--latents-out", args.latents_out)
    if args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    parse_device(args.device)  # before the tokens are read or the codec is loaded
    tokens = read_tokens(args.tokens)

    import numpy as np
    import torch

    from ..audio import write_audio
    from ..codec import decode_windows, load_heartcodec

    codec = load_heartcodec(args.codec, args.dtype, args.device)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    windows = decode_windows(
        codec, [torch.from_numpy(tokens)], generators=[torch.Generator().manual_seed(seed)], steps=args.steps,
        guidance=args.guidance, progress=lambda done, total: print(f"window {done}/{total}", file=sys.stderr),
    )
    latents, chunks = [], []
    for window in windows:
        latents.append(window.latents.numpy())
        chunks.append(window.audio)
    audio = torch.cat(chunks, dim=1).numpy()

    if args.out.suffix.lower() == NPY:
        save_npy(args.out, audio)
        note = ""
    else:
        report = write_audio(args.out, audio, codec.sample_rate)
        note = f", scaled by {report.gain:.3f} to avoid clipping" if report.scaled else ""
    if args.latents_out is not None:
        save_npy(args.latents_out, np.stack(latents).astype(np.float32))
    seconds = audio.shape[1] / codec.sample_rate
    print(f"{args.out}: {seconds:.2f} s stereo at {codec.sample_rate} Hz from {tokens.shape[0]} frames, seed {seed}{note}")
    return 0


def check_folder(option: str, path: Path) -> None:
    if not path.parent.is_dir():
        raise ValueError(f"{option}: folder {path.parent} does not exist")


def read_tokens(path: Path):
    """The int64 [frames, 8] token array of a .npy file, or a one-line ValueError saying what is wrong."""
    import numpy as np

    tokens = load_npy("--tokens", path)
    if not isinstance(tokens, np.ndarray) or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"--tokens {path}: expected integer tokens, got {getattr(tokens, 'dtype', type(tokens))}")
    if tokens.ndim != 2 or tokens.shape[1] != 8:
        raise ValueError(f"--tokens {path}: expected shape [frames, 8], got {list(tokens.shape)}")
    if tokens.shape[0] == 0:
        raise ValueError(f"--tokens {path}: zero frames, nothing to decode")
    return tokens.astype(np.int64)


def save_npy(path: Path, array) -> None:
    """np.save atomically: a temp file next to the target, then os.replace (never a half-written file)."""
    import numpy as np

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
