"""Extending a kept song: time to first audio and decode time, reusing the parent's decode or not, against a new
song of the same length.

Method (tiny reference checkpoints on the CPU, cfg 1.5, top-k 50, codec 10 steps, one variant, decoding during
the LM): a parent song of P seconds is made (the prompt and seed the tiny LM runs to its full length), then
extended by `MORE_S` seconds four ways, each `MusicPipeline.generate(request, on_audio=...)` timed from the call
to the first chunk and to the end:
- "re-decode": the extension with the parent's decode seed only: the kept windows are decoded again;
- "reuse latents": with the parent's audio and codec latents (`kept_audio`, `kept_latents`): the kept windows are
  not decoded, only window m - 1's 168-frame tail goes through the SQ decoder;
- "replay flow": with the parent's audio only: the kept windows' flow runs again, not their SQ decode.
- "new song": a fresh song as long as the extension came out (what making it from scratch costs).
"windows" counts the codec windows decoded whole; "decoding s" is the pipeline's own decoding time. On the
shared machine trust "cpu s" (this process's CPU time) over the wall-clock columns.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402

from benchmarks.bench_lm import build as build_lm  # noqa: E402
from benchmarks.bench_stream import timed_song  # noqa: E402
from heartmula_core.codec import load_heartcodec  # noqa: E402
from heartmula_core.codec.windows import kept_windows, window_count  # noqa: E402
from heartmula_core.pipeline import MusicPipeline  # noqa: E402
from heartmula_core.request import MusicRequest  # noqa: E402

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula"
GEN = REF / "tiny" / "HeartMuLaGen-tiny"
SONG = dict(tags="pop", lyrics="la la")
PARENT_SEED, CHILD_SEED = 11, 12  # 11: the tiny LM runs it to its full length (bench_stream.py)
MORE_S = 20.0


def extend_rows(parent_seconds: list[float]) -> list[dict]:
    """Per parent length: a new song, and the extension re-decoded, reusing latents, and replaying the flow."""
    lm, _ = build_lm("tiny", torch.device("cpu"))
    codec = load_heartcodec(REF / "tiny" / "HeartCodec-tiny", torch.float32, torch.device("cpu"))
    pipe = MusicPipeline.from_loaded(lm, codec, GEN)
    pipe.generate(MusicRequest(**SONG, seconds=1.0, seed=PARENT_SEED))  # warm-up
    rows = []
    for seconds in parent_seconds:
        parent = pipe.generate(MusicRequest(**SONG, seconds=seconds, seed=PARENT_SEED))
        frames = len(parent.tokens[0])
        total = frames / 12.5 + MORE_S
        extension = dict(**SONG, seconds=total, seed=CHILD_SEED, prefix=parent.tokens[0],
                         decode_seed=parent.decode_seeds[0])
        ways = {
            "re-decode": MusicRequest(**extension),
            "reuse latents": MusicRequest(**extension, kept_audio=parent.audio[0], kept_latents=parent.codec_tails[0]),
            "replay flow": MusicRequest(**extension, kept_audio=parent.audio[0]),
        }
        for way in [*ways, "new song"]:
            # A new song as long as the extension came out (the LM may end a song early), with the prompt and
            # seed the tiny LM runs to its full length.
            request = ways.get(way) or MusicRequest(**SONG, seconds=made / 12.5, seed=PARENT_SEED)
            result, first, end, cpu = timed_song(pipe, request)
            made = len(result.tokens[0])
            skipped = kept_windows(frames) if request.kept_audio is not None else 0
            rows.append({"part": "extend", "parent s": round(frames / 12.5, 2), "song s": round(made / 12.5, 2),
                         "way": way, "first audio s": round(first, 2), "end to end s": round(end, 2),
                         "lm s": round(result.timings["tokens"], 2), "decoding s": round(result.timings["decoding"], 2),
                         "cpu s": round(cpu, 2), "windows": window_count(made) - skipped})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent", type=float, action="append", help="parent song seconds (default 30 and 60: one and two codec windows kept)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f}, {args.threads} thread(s)")
    rows = extend_rows(args.parent or [30.0, 60.0])
    columns = [c for c in rows[0] if c != "part"]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
