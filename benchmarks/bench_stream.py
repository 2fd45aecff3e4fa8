"""A whole song with streaming: time to first audio, end-to-end time for 30 s, 60 s and 240 s, peak memory.

Method (tiny reference checkpoints, cfg 1.5, top-k 50, codec 10 steps, guidance 1.25, one variant):
`MusicPipeline.generate(request, on_audio=...)` from the request to the last chunk; time to first audio is
when the first chunk reaches `on_audio`. Two rows per song length:
- "during tokens" (the default): each codec window is decoded between LM frames as soon as its codes are
  final (frame 373 for window 0), so the first audio comes about halfway through a one-minute song;
- "after tokens" (`decode_during_tokens=False`): every window after the LM, as before streaming existed.
The prompt and seed are one the tiny LM runs to its full length (most seeds end a song early), so every row
makes all its frames (375 for 30 s, 750 for 60 s). A 240 s song does not fit the tiny LM's context (2048
positions: at most ~162 s with this prompt), so it is estimated from the 60 s song's measured rates (LM seconds
per frame, codec seconds per window) and labelled as such; `--quick` times a 6 s song instead (one window:
nothing to stream early). Peak memory is the process's peak resident set
(ru_maxrss), models included, for the whole run so far.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import torch

from benchmarks.bench_lm import build as build_lm
from heartmula_core.codec import load_heartcodec
from heartmula_core.codec.stream import frames_to_stream
from heartmula_core.codec.windows import window_count
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.request import FRAME_RATE, MusicRequest
from heartmula_core.result import MusicResult

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula"
GEN = REF / "tiny" / "HeartMuLaGen-tiny"
SONG = dict(tags="pop", lyrics="la la", seed=11)  # the tiny LM runs this one to its full length
LONG_SONG_S = 240.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def timed_song(pipe: MusicPipeline, request: MusicRequest) -> tuple[MusicResult, float, float, float]:
    """`pipe.generate(request)` streamed: (result, seconds to the first chunk, seconds to the end, CPU seconds)."""
    first: list[float] = []

    def on_audio(_chunk) -> None:
        if not first:
            first.append(time.perf_counter() - start)

    start, cpu = time.perf_counter(), time.process_time()
    result = pipe.generate(request, on_audio=on_audio)
    return result, first[0], time.perf_counter() - start, time.process_time() - cpu


def _song(pipe: MusicPipeline, seconds: float) -> dict:
    """Times of one streamed song: first chunk, end to end, LM and decoding seconds, frames and windows."""
    result, first, total, cpu = timed_song(pipe, MusicRequest(**SONG, seconds=seconds))
    frames = len(result.tokens[0])
    return {"first_s": first, "total_s": total, "cpu_s": cpu, "lm_s": result.timings["tokens"],
            "decoding_s": result.timings["decoding"], "frames": frames, "windows": window_count(frames),
            "audio_s": result.seconds[0]}


def stream_rows(configs: list[str], device: str, quick: bool = False) -> list[dict]:
    """Per config: measured songs (30 s and 60 s, or 6 s with quick) streamed during and after the tokens, and
    an estimated 240 s song for each (from the longest measured one)."""
    rows = []
    for config in configs:
        if config != "tiny" or device != "cpu":
            rows.append({"part": "song", "config": config, "device": device,
                         "note": "skipped: streamed songs are timed with the tiny checkpoints on the CPU"})
            continue
        dev = torch.device(device)
        lm, _ = build_lm(config, dev)
        codec = load_heartcodec(REF / "tiny" / "HeartCodec-tiny", torch.float32, dev)
        for during in (True, False):
            pipe = MusicPipeline.from_loaded(lm, codec, GEN, decode_during_tokens=during)
            _song(pipe, 1.0)  # warm-up
            when = "during tokens" if during else "after tokens"
            base = {"part": "song", "config": config, "device": device, "variants": 1, "windows decoded": when}
            for seconds in (6.0,) if quick else (30.0, 60.0):
                song = _song(pipe, seconds)
                rows.append({**base, "song s": round(song["audio_s"], 2), "first audio s": round(song["first_s"], 2),
                             "end to end s": round(song["total_s"], 2), "cpu s": round(song["cpu_s"], 2),
                             "lm s": round(song["lm_s"], 2),
                             "s per audio s": round(song["total_s"] / song["audio_s"], 3),
                             "peak RSS MB": round(_peak_rss_mb()), "note": f"measured, {song['frames']} frames"})
            rows.append(_estimate(base, song, seconds, during))
    return rows


def _estimate(base: dict, song: dict, seconds: float, during: bool) -> dict:
    """The 240 s song from the measured song's rates: LM seconds per frame, codec seconds per window."""
    per_frame = song["lm_s"] / song["frames"]
    per_window = song["decoding_s"] / song["windows"]
    frames = int(LONG_SONG_S * FRAME_RATE)
    lm_long, windows = per_frame * frames, window_count(frames)
    # During tokens, window 0 is decoded once the LM reaches frame 373; otherwise after the whole LM.
    first = (per_frame * frames_to_stream(0) if during else lm_long) + per_window
    return {**base, "song s": LONG_SONG_S, "first audio s": round(first, 1),
            "end to end s": round(lm_long + per_window * windows, 1), "lm s": round(lm_long, 1),
            "s per audio s": round((lm_long + per_window * windows) / LONG_SONG_S, 3),
            "note": f"estimate from the {seconds:g} s song's rates ({windows} windows)"}
