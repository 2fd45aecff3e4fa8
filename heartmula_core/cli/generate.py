"""`python -m heartmula_core generate`: a song from tags and lyrics, headless.

With one variant it writes --out; with N it writes NAME-1.EXT ... NAME-N.EXT beside it. Models come from the
catalogue (explicit --lm/--gen/--codec folders, ./ckpt, the Hugging Face cache, or a download). A progress bar
goes to stderr. Ctrl-C stops cleanly: files are only written once the audio is complete, each atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_cuda_graph_arg, add_threads_arg, check_cuda_graph, check_extension, load_npy, read_text_file
from ._models_args import add_catalogue_args, make_catalogue


def register(sub: argparse._SubParsersAction) -> None:
    from ..hub.catalogue import CODEC_VARIANTS, DEFAULT_CODEC, DEFAULT_LM, DEFAULT_STYLE, LM_VARIANTS
    from ..request import (
        AUDIO_FORMATS, DEFAULT_CFG, DEFAULT_TEMPERATURE, DEFAULT_TOPK, MAX_STYLE_STRENGTH, MAX_VARIANTS,
    )

    p = sub.add_parser(
        "generate",
        help="make a song from tags and lyrics",
        description="Make a song (48 kHz stereo) from tags and lyrics with HeartMuLa and HeartCodec.",
    )
    p.add_argument("--tags", required=True, help='comma-separated style tags, e.g. "pop,piano,happy"')
    lyrics = p.add_mutually_exclusive_group(required=True)
    lyrics.add_argument("--lyrics", help="the lyrics (use \\n or --lyrics-file for several lines)")
    lyrics.add_argument("--lyrics-file", type=Path, metavar="FILE", help="read the lyrics from FILE (UTF-8)")
    p.add_argument("--seconds", type=float, required=True,
                   help="song length in seconds (the model may end it sooner); with --continue, the whole song's, "
                   "kept part included")
    p.add_argument("--variant", choices=LM_VARIANTS, default=DEFAULT_LM, help=f"LM release (default {DEFAULT_LM})")
    p.add_argument("--codec-variant", choices=CODEC_VARIANTS, default=DEFAULT_CODEC, help=argparse.SUPPRESS)
    p.add_argument("--variants", type=int, default=1, metavar="N", help=f"versions to make at once, 1-{MAX_VARIANTS}")
    p.add_argument("--seed", type=int, default=None, help="seed (default: random; printed so you can reuse it)")
    p.add_argument("--cfg", type=float, default=DEFAULT_CFG, help=f"guidance scale (default {DEFAULT_CFG})")
    p.add_argument("--topk", type=int, default=DEFAULT_TOPK, help=f"top-k sampling (default {DEFAULT_TOPK})")
    p.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                   help=f"sampling temperature (default {DEFAULT_TEMPERATURE})")
    p.add_argument("--format", choices=AUDIO_FORMATS, default=None,
                   help="audio format (default: from --out's extension, else wav)")
    p.add_argument("--lm", type=Path, metavar="DIR", help="HeartMuLa folder (config.json + safetensors)")
    p.add_argument("--gen", type=Path, metavar="DIR", help="folder with tokenizer.json and gen_config.json")
    p.add_argument("--codec", type=Path, metavar="DIR", help="HeartCodec folder (config.json + safetensors)")
    add_catalogue_args(p)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--dtype", default=None, help="float32, bfloat16 or float16 (default: bfloat16 on GPU, else float32)")
    p.add_argument("--steps", type=int, default=None,
                   help="codec flow-matching steps per window (default 10; fewer is faster and rougher)")
    p.add_argument("--int8", action="store_true", help="int8 LM weights: about half the memory of bfloat16")
    p.add_argument("--compile", action="store_true", help="compile the LM's frame step (slower start, faster frames)")
    add_cuda_graph_arg(p)
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the song")
    p.add_argument("--save-tokens", action="store_true",
                   help="also write each song's tokens as NAME.npy beside it (what --continue and decode read) and "
                   "its codec latents as NAME.codec.npy (what --take-latents reads)")
    p.add_argument("--continue", dest="prefix", type=Path, metavar="TAKE.npy",
                   help="continue this take's tokens (int64 [frames, 8] .npy): the song starts with them and goes on; "
                   "give the lyrics of the whole song (the kept part's and what follows)")
    p.add_argument("--from", dest="cut", metavar="TIME",
                   help="with --continue: keep the take up to TIME (seconds or mm:ss) and make the rest again "
                   "(default: keep all of it, an extension)")
    p.add_argument("--take-seed", type=int, metavar="N",
                   help="with --continue: the seed the take was decoded with; the kept part then sounds exactly as "
                   "before (default: --seed)")
    p.add_argument("--take-audio", type=Path, metavar="TAKE.wav|flac",
                   help="with --continue: the take's audio as this command wrote it; the kept part's codec windows "
                   "are then not decoded again (their samples start the song)")
    p.add_argument("--take-latents", type=Path, metavar="TAKE.codec.npy",
                   help="with --take-audio: the take's codec latents, as --save-tokens wrote them beside it (or "
                   "`decode --latents-out`); the kept windows' flow then does not run again either")
    style = p.add_mutually_exclusive_group()
    style.add_argument("--style-audio", type=Path, metavar="FILE",
                       help="a reference recording whose sound the song should follow (MuQ-MuLan, CC BY-NC 4.0)")
    style.add_argument("--style-text", metavar="TEXT", help="a sentence describing the sound (MuQ-MuLan)")
    p.add_argument("--style-strength", type=float, default=1.0, metavar="X",
                   help=f"0 (no style) to {MAX_STYLE_STRENGTH:g}; 1 = the style as computed (default)")
    p.add_argument("--style", default=DEFAULT_STYLE, metavar="DIR",
                   help="MuQ-MuLan folder, or the catalogue name 'style' (default; downloaded on first use)")
    add_threads_arg(p)
    p.set_defaults(handler=run)


def output_paths(out: Path, fmt: str | None, variants: int) -> tuple[str, list[Path]]:
    """(format, files): FILE for one variant, NAME-1.EXT ... NAME-N.EXT for several. A FILE without an extension
    gets the format's (`--format`, else wav); an extension no writer knows is refused, as `decode` does."""
    from ..audio import SUPPORTED_EXTENSIONS

    suffix = check_extension("--out", out, SUPPORTED_EXTENSIONS).lstrip(".") if out.suffix else ""
    if fmt is None:
        fmt = suffix or "wav"
    elif suffix and suffix != fmt:
        raise ValueError(f"--format {fmt} does not match --out {out.name}")
    base = out if suffix == fmt else out.with_name(out.name + f".{fmt}")
    if not base.parent.is_dir():
        raise ValueError(f"--out: the folder {base.parent} does not exist")
    if variants == 1:
        return fmt, [base]
    return fmt, [base.with_name(f"{base.stem}-{i}{base.suffix}") for i in range(1, variants + 1)]


def run(args: argparse.Namespace) -> int:
    from ..request import MusicRequest
    from ..progress import Phase, ProgressEvent

    # Every argument is checked before torch is imported or a model is looked for: mistakes answer at once.
    lyrics = args.lyrics.replace("\\n", "\n") if args.lyrics is not None else read_text_file("--lyrics-file", args.lyrics_file)
    fmt, paths = output_paths(args.out, args.format, max(1, args.variants))
    request = MusicRequest(
        tags=args.tags, lyrics=lyrics, seconds=args.seconds, variants=args.variants, seed=args.seed,
        cfg=args.cfg, topk=args.topk, temperature=args.temperature, format=fmt,
        style_audio=args.style_audio, style_text=args.style_text, style_strength=args.style_strength,
        **continuation_fields(args),
    )
    import torch
    from tqdm import tqdm

    from ..audio import write_audio
    from ..pipeline import DECODE_STEPS, MusicPipeline
    from ..weights import parse_device
    from .tokens import write_npy_atomic

    device = str(parse_device(args.device)) if args.device else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    check_cuda_graph(args, device)

    catalogue = make_catalogue(args, folders={"lm": args.lm, "gen": args.gen, "codec": args.codec})
    models = catalogue.music_models(args.variant, args.codec_variant)
    pipeline = MusicPipeline(
        models, device=device, dtype=dtype, decode_steps=DECODE_STEPS if args.steps is None else args.steps,
        style_model=args.style, catalogue=catalogue, int8=args.int8, compiled=args.compile,
        cuda_graph=args.cuda_graph,
    )

    bar = tqdm(total=1000, file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}|{postfix}")

    def show(event: ProgressEvent) -> None:
        # One bar for the whole song; the phase, its count and its ETA are the label.
        eta = f", eta {event.eta:.0f} s" if event.eta and event.phase is not Phase.DONE else ""
        bar.set_description_str(f"{event.phase.value:<8}", refresh=False)
        bar.set_postfix_str(f"{event.done}/{event.total}{eta}", refresh=False)
        bar.update(round(event.overall * 1000) - bar.n)

    try:
        result = pipeline.generate(request, progress=show)
    finally:
        bar.close()
    for audio, tokens, tails, path, seed, decode_seed in zip(result.audio, result.tokens, result.codec_tails, paths,
                                                             result.seeds, result.decode_seeds):
        write_audio(path, audio, result.sample_rate, title=request.tags)
        if args.save_tokens:
            write_npy_atomic(path.with_suffix(".npy"), tokens)
            write_npy_atomic(path.with_suffix(".codec.npy"), tails)
        decoded = f", decoded with seed {decode_seed}" if decode_seed != seed else ""
        print(f"{path}  ({audio.shape[-1] / result.sample_rate:.1f} s, seed {seed}{decoded})")
    t = result.timings
    print(
        f"done in {t['total']:.1f} s (loading {t.get('loading', 0):.1f}, tokens {t.get('tokens', 0):.1f}, "
        f"decoding {t.get('decoding', 0):.1f}) on {device}",
        file=sys.stderr,
    )
    return 0


def continuation_fields(args: argparse.Namespace) -> dict:
    """MusicRequest's prefix, cut, decode_seed and what of the take's decode it reuses, from --continue, --from,
    --take-seed, --take-audio and --take-latents (checked there)."""
    from ..request import FRAME_RATE, cut_at, parse_time

    if args.prefix is None:
        if any(v is not None for v in (args.cut, args.take_seed, args.take_audio, args.take_latents)):
            raise ValueError("--from, --take-seed, --take-audio and --take-latents go with --continue TAKE.npy")
        return {}
    from .tokens import read_prefix

    prefix = read_prefix(args.prefix)
    cut = cut_at(parse_time(args.cut)) if args.cut is not None else None
    if cut is not None and cut > len(prefix):  # said in the musician's time, not in frames as MusicRequest does
        raise ValueError(f"--from {args.cut} is past the take's end ({len(prefix) / FRAME_RATE:g} s): "
                         "give a time inside it, or leave --from out to extend the whole take")
    decode_seed = args.take_seed if args.take_seed is not None else args.seed
    if decode_seed is None and args.take_audio is not None:
        raise ValueError("--take-audio needs --take-seed (the seed the take was decoded with)")
    fields = {"prefix": prefix, "cut": cut, "decode_seed": decode_seed}
    if args.take_latents is not None:
        if args.take_audio is None:
            raise ValueError("--take-latents goes with --take-audio (the audio those latents were decoded into)")
        fields["kept_latents"] = read_take_latents(args.take_latents)
    return fields if args.take_audio is None else {**fields, "kept_audio": read_take_audio(args.take_audio)}


def read_take_latents(path: Path):
    """A take's codec latents, float32 [windows, 168, channels], from what --save-tokens writes or from
    `decode --latents-out`'s whole windows [windows, 744, channels] (a window's tail is its last 168 frames)."""
    from ..codec.resume import TAIL_LATENTS

    latents = load_npy("--take-latents", path)
    if getattr(latents, "ndim", 0) != 3 or latents.shape[1] < TAIL_LATENTS or latents.dtype.kind != "f":
        raise ValueError(f"--take-latents {path}: expected float latents [windows, {TAIL_LATENTS}, channels] as "
                         f"--save-tokens writes them, got {list(getattr(latents, 'shape', []))}")
    return latents[:, -TAIL_LATENTS:]


def read_take_audio(path: Path):
    """A take's samples as this command wrote them (float32 [2, samples]), or ValueError when the file cannot be
    the decode's own samples: not 24-bit WAV/FLAC at 48 kHz stereo (lossy formats shift and change them), or
    turned down when written because it would have clipped."""
    import soundfile as sf

    from ..audio import CODEC_SAMPLE_RATE, PEAK_CEILING, read_audio

    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.SoundFileError):  # missing, empty or not audio
        info = None
    if info is None or info.subtype != "PCM_24" or info.samplerate != CODEC_SAMPLE_RATE or info.channels != 2:
        raise ValueError(f"--take-audio {path}: give the take's .wav or .flac as written here (48 kHz stereo, 24-bit)")
    audio, _ = read_audio(path)
    if abs(float(abs(audio).max()) - PEAK_CEILING) < 2**-22:  # write_audio turned it down to exactly this peak
        raise ValueError(f"--take-audio {path} was turned down when written (it would have clipped): leave it out")
    return audio

