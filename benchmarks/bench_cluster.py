"""Songs on a local Ray cluster against this computer's pipeline (tiny checkpoints, CPU): songs per hour with 1
and 2 workers, and what the cluster path adds to the time to first audio of one song.

    python -m benchmarks.bench_cluster [--songs 8] [--seconds 6] [--runs 5]

Method: the studio's own music makers, `PipelineMusicMaker` (local) and `ClusterMusicMaker` on a cluster this
process starts (`HEARTSONG_RAY_ADDRESS=local`, all of this computer's CPUs), every worker and the local pipeline on
one torch thread. Each setup first makes one song per worker (models loaded, nothing timed). Throughput:
`--songs` songs of `--seconds` s (distinct seeds, all run to full length), as many at once as the setup has
workers, from the first request to the last song; songs per hour = songs / wall time. Time to first audio: one
song alone, from `make()` to the first audio piece its `emit` receives, `--runs` times, median; the cluster path
adds the request's trip, the worker's thread hop and the pieces' trip back.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.settings import load_settings
from app.studio.engines import PipelineMusicMaker
from app.studio.jobs import MusicSettings, Sheet, TakeAudio
from heartmula_core.threads import use_threads

TINY = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula" / "tiny"
SHEET = dict(tags="pop", lyrics="la la")  # a prompt the tiny LM runs to full length with seed 11 (bench_stream)


def tiny_settings(data_dir: Path, **extra):
    return load_settings(Path("/dev/null"), data_dir=data_dir, lm_dir=TINY / "HeartMuLa-tiny",
                         gen_dir=TINY / "HeartMuLaGen-tiny", codec_dir=TINY / "HeartCodec-tiny", device="cpu",
                         dtype="float32", threads=1, **extra)


def first_audio_s(maker, seconds: float, seed: int) -> float:
    """Seconds from `make()` to the first audio piece of one song."""
    first: list[float] = []

    def emit(event) -> None:
        if isinstance(event, TakeAudio) and not first:
            first.append(time.perf_counter() - start)

    start = time.perf_counter()
    maker.make(Sheet(**SHEET, seconds=seconds), MusicSettings(variants=1, seed=seed), emit, threading.Event())
    return first[0]


def songs_per_hour(maker, songs: int, seconds: float) -> tuple[float, float]:
    """(songs per hour, wall seconds) for `songs` songs made `maker.slots` at a time."""
    sheet = Sheet(**SHEET, seconds=seconds)

    def one(seed: int) -> None:
        maker.make(sheet, MusicSettings(variants=1, seed=seed), lambda event: None, threading.Event())

    start = time.perf_counter()
    with ThreadPoolExecutor(maker.slots) as pool:
        list(pool.map(one, [11 + i for i in range(songs)]))
    wall = time.perf_counter() - start
    return songs * 3600 / wall, wall


def warm(maker, seconds: float) -> None:
    with ThreadPoolExecutor(maker.slots) as pool:
        list(pool.map(lambda seed: first_audio_s(maker, seconds, seed), range(1, maker.slots + 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path("/tmp/heartsong-bench-cluster"))
    args = parser.parse_args()
    use_threads(1)
    rows = []
    local = PipelineMusicMaker(tiny_settings(args.data))
    warm(local, args.seconds)
    rate, wall = songs_per_hour(local, args.songs, args.seconds)
    local_first = [first_audio_s(local, args.seconds, 11) for _ in range(args.runs)]
    rows.append(("local pipeline", 1, rate, wall, statistics.median(local_first)))

    from app.cluster.maker import ClusterMusicMaker  # Ray: only for the cluster rows

    for workers in (1, 2):
        cluster = ClusterMusicMaker.connect(tiny_settings(args.data, ray_address="local", ray_replicas=workers))
        try:
            warm(cluster, args.seconds)
            rate, wall = songs_per_hour(cluster, args.songs, args.seconds)
            firsts = [first_audio_s(cluster, args.seconds, 11) for _ in range(args.runs)]
        finally:
            cluster.close()
        rows.append((f"Ray cluster, {workers} worker{'s' * (workers > 1)}", workers, rate, wall,
                     statistics.median(firsts)))

    print(f"{args.songs} songs of {args.seconds:g} s (tiny, CPU, 1 torch thread each), load average "
          f"{os.getloadavg()[0]:.2f}, time to first audio: median of {args.runs}")
    print("| setup | workers | songs/hour | wall s | first audio ms | vs local |")
    print("|---|---|---|---|---|---|")
    for name, workers, rate, wall, first in rows:
        delta = (first - rows[0][4]) * 1000
        print(f"| {name} | {workers} | {rate:.0f} | {wall:.1f} | {first * 1000:.0f} | "
              f"{'' if name.startswith('local') else f'{delta:+.0f} ms'} |")


if __name__ == "__main__":
    main()
