"""End-to-end song speed: `MusicPipeline.generate` from request to audio, 1 variant and 4 batched variants.

Reported per config: wall seconds for the song, seconds of compute per second of audio produced (all variants
together), and how the 4-variant batch compares with one variant (the goal on CPU: at most 2x). The models are
loaded before timing (loading is not part of a song's cost once the app is running); the first song of each
shape is a warm-up. cfg 1.5, top-k 50, temperature 1.0, codec 10 steps, float32 on CPU.

Configs: `tiny` = the tiny reference checkpoints; `medium` = the LM benchmark's medium random LM with a random
codec of a similar scale (estimator 4 + 2 layers, 8 heads of 64, SQ decoder 32 channels); `full` = both models
at full size with random weights in bfloat16 (GPU only). Random weights can end a song early (end-of-audio),
so the table reports the frames actually made.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from benchmarks.bench_lm import build as build_lm
from heartmula_core.codec import HeartCodec, HeartCodecConfig, load_heartcodec
from heartmula_core.codec.checkpoint import build_heartcodec
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.request import MusicRequest
from heartmula_core.result import MusicResult

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula"
GEN = REF / "tiny" / "HeartMuLaGen-tiny"
MEDIUM_CODEC = HeartCodecConfig(
    dim=512, attention_head_dim=64, num_attention_heads=8, num_layers=4, num_layers_2=2, in_channels=1024,
    init_channel=32,
)
SONG = dict(tags="pop,piano,happy", lyrics="[verse]\nthe sun is up\nwe walk along\n[chorus]\nla la la")
VARIANTS = (1, 4)


def random_codec(config: HeartCodecConfig, device: torch.device, dtype: torch.dtype) -> HeartCodec:
    """Every float tensor ~ N(0, 0.02) (the speed does not depend on the values); the estimator in `dtype`."""
    codec = build_heartcodec(config, device)
    gen = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for tensor in (*codec.parameters(), *codec.buffers()):
            if tensor.is_floating_point():
                tensor.normal_(0, 0.02, generator=gen)
    codec.estimator.to(dtype)
    return codec.eval()


def build_codec(config: str, device: torch.device) -> HeartCodec:
    if config == "tiny":
        return load_heartcodec(REF / "tiny" / "HeartCodec-tiny", torch.float32, device)
    if config == "medium":
        return random_codec(MEDIUM_CODEC, device, torch.float32)
    return random_codec(HeartCodecConfig(), device, torch.bfloat16)


def _song(pipe: MusicPipeline, request: MusicRequest, device: torch.device) -> tuple[MusicResult, float]:
    """The result and the process CPU seconds it took (on a shared machine, our work without the waits)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    cpu = time.process_time()
    result = pipe.generate(request)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.process_time() - cpu


def _row(config: str, device: str, seconds: float, song: tuple[MusicResult, float], one: tuple[float, float]) -> dict:
    result, cpu = song
    wall = result.timings["total"]
    return {
        "part": "song",
        "config": config,
        "device": device,
        "variants": len(result.audio),
        "song s": seconds,
        "frames": max(len(t) for t in result.tokens),
        "wall s": round(wall, 2),
        "tokens s": round(result.timings["tokens"], 2),
        "decoding s": round(result.timings["decoding"], 2),
        "s per audio s": round(wall / sum(result.seconds), 3),
        "vs 1 variant": f"{wall / one[0]:.2f}x",
        "cpu s": round(cpu, 2),
        "cpu vs 1 variant": f"{cpu / one[1]:.2f}x",
    }


def pipeline_rows(configs: list[str], device: str, quick: bool = False, seconds: float | None = None) -> list[dict]:
    """Two rows per config: one variant, then four batched variants of the same length.

    Random weights may end a variant early, so the four-variant batch runs first and the one-variant song is
    its longest variant made again alone (its recorded seed reproduces it): both make the same frame count.
    """
    dev = torch.device(device)
    seconds = seconds or (4.0 if quick else 10.0)
    rows = []
    for config in configs:
        if config == "full" and dev.type != "cuda":
            rows.append({"part": "song", "config": config, "device": device, "note": "skipped: needs a GPU"})
            continue
        lm, _ = build_lm(config, dev)
        pipe = MusicPipeline.from_loaded(lm, build_codec(config, dev), GEN, decode_steps=2 if quick else 10)
        _song(pipe, MusicRequest(**SONG, seconds=1.0, variants=max(VARIANTS), seed=0), dev)  # warm-up
        batch = _song(pipe, MusicRequest(**SONG, seconds=seconds, variants=max(VARIANTS), seed=0), dev)
        tokens, seeds = batch[0].tokens, batch[0].seeds
        longest = max(range(len(tokens)), key=lambda i: len(tokens[i]))
        alone = _song(pipe, MusicRequest(**SONG, seconds=seconds, variants=1, seed=seeds[longest]), dev)
        one = (alone[0].timings["total"], alone[1])
        rows += [_row(config, device, seconds, alone, one), _row(config, device, seconds, batch, one)]
        pipe.unload()
    return rows
