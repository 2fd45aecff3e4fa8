"""A whole song with streaming: time to first audio, end-to-end time for 30 s and 240 s, peak memory.

Method (tiny reference checkpoints, cfg 1.5, top-k 50, codec 10 steps, guidance 1.25): the LM makes the
song's frames (`generate_tokens`), then `MusicPipeline.decode_stream` yields the audio window by window;
time to first audio is the LM time plus the first streamed chunk, end to end is the LM plus every chunk.
The 240 s song would take minutes on this CPU, so it is estimated from the 30 s song's measured rates
(LM seconds per frame, codec seconds per window) and labelled as such; `--quick` times a 4 s song instead.
Peak memory is the process's peak resident set (ru_maxrss), models included, for the whole run so far.
The LM must finish before the first window decodes, so first audio comes after the whole LM phase.
"""

from __future__ import annotations

import math
import resource
import time
from pathlib import Path

import torch

from benchmarks.bench_lm import build as build_lm
from heartmula_core.codec import load_heartcodec
from heartmula_core.codec.heartcodec import window_count
from heartmula_core.generation import generate_tokens
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.request import FRAME_RATE, MusicRequest

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula"
GEN = REF / "tiny" / "HeartMuLaGen-tiny"
SONG = dict(tags="pop,piano,happy", lyrics="[verse]\nthe sun is up\nwe walk along\n[chorus]\nla la la")
LONG_SONG_S = 240.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _song(pipe: MusicPipeline, seconds: float, seed: int = 0) -> dict:
    """Times of one streamed song: LM seconds, first chunk, all chunks, frames and windows made."""
    request = MusicRequest(**SONG, seconds=seconds, seed=seed)
    prompt = pipe._prompts.build(request.tags, request.lyrics)
    start = time.perf_counter()
    out = generate_tokens(pipe.lm, prompt, frames=request.frames, cfg_scale=request.cfg, topk=request.topk,
                          temperature=request.temperature, generators=[torch.Generator().manual_seed(seed)])
    pipe.lm.clear_caches()
    lm_s = time.perf_counter() - start
    first = None
    samples = 0
    for chunk in pipe.decode_stream(out.variant(0).numpy(), seed):
        first = first if first is not None else time.perf_counter() - start
        samples += chunk.shape[1]
    total = time.perf_counter() - start
    frames = out.lengths[0]
    return {"lm_s": lm_s, "first_s": first, "total_s": total, "frames": frames, "windows": window_count(frames),
            "audio_s": samples / pipe.sample_rate}


def stream_rows(configs: list[str], device: str, quick: bool = False) -> list[dict]:
    """Rows for a measured song (30 s, or 4 s with quick) and an estimated 240 s song, per config."""
    rows = []
    for config in configs:
        if config != "tiny" or device != "cpu":
            rows.append({"part": "song", "config": config, "device": device,
                         "note": "skipped: streamed songs are timed with the tiny checkpoints on the CPU"})
            continue
        dev = torch.device(device)
        lm, _ = build_lm(config, dev)
        pipe = MusicPipeline.from_loaded(lm, load_heartcodec(REF / "tiny" / "HeartCodec-tiny", torch.float32, dev), GEN)
        _song(pipe, 1.0)  # warm-up
        seconds = 4.0 if quick else 30.0
        song = _song(pipe, seconds)
        base = {"part": "song", "config": config, "device": device, "variants": 1}
        rows.append({**base, "song s": round(song["audio_s"], 2), "first audio s": round(song["first_s"], 2),
                     "end to end s": round(song["total_s"], 2), "lm s": round(song["lm_s"], 2),
                     "s per audio s": round(song["total_s"] / song["audio_s"], 3),
                     "peak RSS MB": round(_peak_rss_mb()), "note": "measured"})
        per_frame = song["lm_s"] / song["frames"]
        per_window = (song["total_s"] - song["lm_s"]) / song["windows"]
        frames = int(LONG_SONG_S * FRAME_RATE)
        lm_long = per_frame * frames
        windows = window_count(frames)
        rows.append({**base, "song s": LONG_SONG_S, "first audio s": round(lm_long + per_window, 1),
                     "end to end s": round(lm_long + per_window * windows, 1), "lm s": round(lm_long, 1),
                     "s per audio s": round((lm_long + per_window * windows) / LONG_SONG_S, 3),
                     "note": f"estimate from the {seconds:g} s song's rates ({math.ceil(windows)} windows)"})
    return rows
