"""Start from a recording through the Studio: what keeping a recording costs per phase, and an extension's time to
first audio after it.

Method (tiny reference checkpoints and the tiny HeartCodec encoder on the CPU, float32, a fresh data folder, one
process): for each length, a stereo 44.1 kHz test signal is kept with `Studio.keep_recording`, its events timed:
"encoder" from the call to the "decoding" phase (reading and checking the file, loading the encoder, which is
loaded for each recording and dropped after it, and every 29.76 s chunk), "decoding" (the codec, the whole
recording) to "saving", and "saving" to `Finished`. Then `Studio.continue_song` extends it by `MORE_S` seconds, one variant:
"first audio" is the time from the call to its first `TakeAudio`. The first length is run once before to warm
up (torch import, the pipeline's load). "peak MB" is the process's peak RSS so far; "cpu s" this process's CPU
time for the keep. On the shared machine trust "cpu s" over the wall-clock columns.

    python benchmarks/bench_recording.py --seconds 30 --seconds 120
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from app.settings import load_settings  # noqa: E402
from app.studio.jobs import Finished, MusicSettings, Progress, Sheet, TakeAudio  # noqa: E402
from app.studio.service import Studio  # noqa: E402
from heartmula_core.errors import InvalidRequest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures" / "heartmula" / "tiny"
ENCODER = ROOT / "tests" / "fixtures" / "heartcodec_encoder" / "HeartCodec-encoder-tiny"
SHEET = Sheet(tags="pop,piano", lyrics="[verse]\nla la la")
MORE_S = 10.0


def test_signal(path: Path, seconds: float, rate: int = 44_100) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    sf.write(path, np.stack([wave, np.roll(wave, 100)], axis=1).astype(np.float32), rate, subtype="PCM_16")
    return path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def keep(studio: Studio, path: Path) -> tuple[dict[str, float], object]:
    """Seconds per phase of keeping `path`, and the kept song."""
    marks: dict[str, float] = {}
    start = time.perf_counter()
    song = None
    for event in studio.keep_recording(path, SHEET):
        now = time.perf_counter() - start
        if isinstance(event, Progress) and event.phase in ("encoding", "decoding", "saving"):
            marks.setdefault(event.phase, now)
            marks[f"{event.phase} end"] = now
        elif isinstance(event, Finished):
            marks["done"], song = now, event.song
    phases = {
        "encoder": marks["decoding"],
        "decoding": marks["saving"] - marks["decoding"],
        "saving": marks["done"] - marks["saving"],
        "total": marks["done"],
    }
    return phases, song


def first_audio(studio: Studio, song_id: str) -> str:
    """Seconds to an extension's first audio, or why it cannot be made (the tiny LM's context is 162 s)."""
    start = time.perf_counter()
    first = None
    try:
        for event in studio.continue_song(song_id, 1, "extend", seconds=MORE_S,
                                          music=MusicSettings(variants=1, seed=3)):
            if isinstance(event, TakeAudio) and first is None:
                first = time.perf_counter() - start
    except InvalidRequest as exc:
        return f"n/a: {exc}"
    assert first is not None
    return f"{first:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, action="append", help="recording lengths (default 30 and 120)")
    args = parser.parse_args()
    lengths = args.seconds or [30.0, 120.0]
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        settings = load_settings(Path(os.devnull), data_dir=base / "data", lm_dir=TINY / "HeartMuLa-tiny",
                                 gen_dir=TINY / "HeartMuLaGen-tiny", codec_dir=TINY / "HeartCodec-tiny",
                                 encoder_dir=ENCODER, device="cpu", dtype="float32")
        studio = Studio(settings)
        keep(studio, test_signal(base / "warm.wav", 2.0))  # warm-up: torch, the pipeline's models
        print(f"load average {os.getloadavg()[0]:.1f}, threads {os.environ.get('HEARTSONG_THREADS', 'default')}")
        print("| audio s | encoder s per audio s | decoding s per audio s | saving s | total s | cpu s | peak MB "
              "| extension: first audio s |")
        print("|---|---|---|---|---|---|---|---|")
        for seconds in lengths:
            path = test_signal(base / f"rec-{seconds:g}.flac", seconds)  # FLAC: a 10-minute WAV is over the 50 MB cap
            cpu = time.process_time()
            phases, song = keep(studio, path)
            cpu = time.process_time() - cpu
            first = first_audio(studio, song.id)
            print(f"| {seconds:g} | {phases['encoder'] / seconds:.3f} | "
                  f"{phases['decoding'] / seconds:.3f} | {phases['saving']:.2f} | {phases['total']:.1f} | {cpu:.1f} | "
                  f"{peak_mb():.0f} | {first} |")


if __name__ == "__main__":
    main()
