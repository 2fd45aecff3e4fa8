"""`python -m heartmula_core tokens`: tags + lyrics -> HeartMuLa audio codes, saved as int64 [frames, 8] .npy."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import tempfile
from pathlib import Path

from . import (add_cuda_graph_arg, add_threads_arg, check_cuda_graph, check_extension, load_npy, read_text_file,
               seed_number)

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tokens",
        help="generate HeartMuLa audio tokens (int64 [frames, 8] .npy) from tags and lyrics",
        description="Run the HeartMuLa token LM on tags and lyrics and save the audio codes, frame-major. "
        "Stops early when the model ends the song (frame 0 is never checked, as in the official loop).",
    )
    p.add_argument("--lm", required=True, type=Path, help="HeartMuLa-oss-* folder (config.json + safetensors)")
    p.add_argument("--gen", required=True, type=Path, help="folder with tokenizer.json and gen_config.json")
    p.add_argument("--tags", required=True, help='comma-separated tags, e.g. "pop,piano,happy"')
    lyrics = p.add_mutually_exclusive_group(required=True)
    lyrics.add_argument("--lyrics", help="the lyrics text (use \\n or --lyrics-file for several lines)")
    lyrics.add_argument("--lyrics-file", type=Path, help="a UTF-8 text file with the lyrics")
    p.add_argument("--frames", required=True, type=int, help="most frames to generate (12.5 per second)")
    p.add_argument(
        "--continue",
        dest="prefix",
        type=Path,
        metavar="PREFIX.npy",
        help="continue these frames (int64 [P, 8] .npy, e.g. an earlier --out): they are prefilled after the "
        "prompt and up to --frames new ones follow; --out then holds the whole song, the P frames first",
    )
    p.add_argument("--cfg", type=float, default=1.5, help="classifier-free guidance scale (default 1.5; 1 = off)")
    p.add_argument("--topk", type=int, default=50, help="top-k sampling (default 50; 1 = greedy)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    p.add_argument("--seed", type=seed_number, help="random seed (default: a random one, logged with -v)")
    p.add_argument("--dtype", default="float32", help="float32 | bfloat16 | float16 (default float32)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    p.add_argument(
        "--compile",
        action="store_true",
        help="compile the frame step with torch.compile: slower start (about a minute on a small CPU), "
        "faster frames; worth it for long songs or many of them in one process",
    )
    add_cuda_graph_arg(p)
    p.add_argument(
        "--int8",
        action="store_true",
        help="int8 weights for the large matrices: about half the memory of bfloat16 for the 3B model, "
        "a small change in the tokens (measured by benchmarks/run.py --int8)",
    )
    p.add_argument("--out", required=True, type=Path, help="output .npy file")
    add_threads_arg(p)
    p.set_defaults(handler=run)


def write_npy_atomic(path: Path, array) -> None:
    """Write `array` to `path` via a temporary file in the same folder, so a failure leaves nothing half-written."""
    import numpy as np

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_prefix(path: Path):
    """The frames of a .npy file to continue, read-only int64 array [P, 8], or InvalidRequest saying what is wrong."""
    from ..errors import InvalidRequest
    from ..request import prefix_codes

    try:
        array = load_npy("--continue", path)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    return prefix_codes(array)


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidRequest
    from ..weights import parse_device, parse_dtype

    # Cheap checks first: a typo must not wait for a multi-GB model to load.
    dtype = parse_dtype(args.dtype)
    device = parse_device(args.device)
    check_cuda_graph(args, device)
    check_extension("--out", args.out, (".npy",))  # np.save into song.wav would be a .npy under another name
    if not args.out.parent.is_dir():
        raise InvalidRequest(f"output folder does not exist: {args.out.parent}")
    # "\n" typed in --lyrics is a line break, as in `generate`: the same arguments give the same prompt there.
    if args.lyrics is not None:
        lyrics = args.lyrics.replace("\\n", "\n")
    else:
        lyrics = read_text_file("--lyrics-file", args.lyrics_file)
    prefix = read_prefix(args.prefix) if args.prefix is not None else None

    import torch

    from ..lm.config import FRAME_MS, HeartMuLaConfig
    from ..lm.continuation import check_continuation
    from ..lm.generation import check_length, generate_tokens
    from ..lm.heartmula import load_heartmula
    from ..lm.prompting import PromptBuilder

    config = HeartMuLaConfig.from_folder(args.lm)
    prompt = PromptBuilder.from_folder(args.gen, config.audio_num_codebooks).build(args.tags, lyrics)
    if prefix is None:
        check_length(prompt.length, args.frames, config.backbone.max_seq_len)
    else:
        check_continuation(prompt.length, prefix.shape[0], args.frames, config.backbone.max_seq_len)
    model = load_heartmula(args.lm, dtype=dtype, device=device, int8=args.int8)
    seed = args.seed if args.seed is not None else secrets.randbits(63)
    log.info("seed %d, prompt %d tokens, up to %d frames", seed, prompt.length, args.frames)
    generator = torch.Generator(device).manual_seed(seed)
    result = generate_tokens(
        model,
        prompt,
        frames=args.frames,
        cfg_scale=args.cfg,
        topk=args.topk,
        temperature=args.temperature,
        generators=[generator],
        compiled=args.compile,
        cuda_graph=args.cuda_graph,
        prefix=None if prefix is None else torch.from_numpy(prefix.copy()),
    )
    tokens = result.variant(0).cpu().numpy().astype("int64")  # (frames, 8), the kept frames first
    write_npy_atomic(args.out, tokens)
    seconds = len(tokens) * FRAME_MS / 1000
    kept = f" ({prefix.shape[0]} kept, {len(tokens) - prefix.shape[0]} new)" if prefix is not None else ""
    print(f"wrote {len(tokens)} frames{kept} ({seconds:.2f} s of audio) to {args.out}")
    return 0
