"""Songs on a local Ray cluster against this computer's pipeline (tiny checkpoints, CPU): songs per hour with 1
and 2 workers busy, what the cluster path adds to one song's time to first audio, and how soon a Stop frees a
worker.

    python -m benchmarks.bench_cluster [--songs 6] [--seconds 6] [--rounds 3] [--runs 7] [--address ADDRESS]

Method: the studio's own music makers side by side in one process, `PipelineMusicMaker` (local) and
`ClusterMusicMaker` on a two-worker cluster this process starts (`HEARTSONG_RAY_ADDRESS=local`, this computer's
CPUs); every worker and the local pipeline use one torch thread, and each first makes a song untimed (models
loaded). The setups take turns (`--rounds` rounds, median), so a load that comes and goes on a shared machine
hits them alike. Throughput: `--songs` songs of `--seconds` s (distinct seeds), made one at a time (local; the
cluster with 1 worker busy) or two at a time (the cluster with 2 workers busy), from the first request to the
last song; songs per hour = songs / wall time. Time to first audio: one song alone, from `make()` to the first
audio piece its `emit` receives, local and cluster in turns, `--runs` times each, medians and the median of
the paired differences. Stop: both workers make a 60 s song; one is stopped once it makes tokens and a
one-frame request is sent at once: the time from the Stop to that request's `Started` (the freed worker took
it) bounds the time the Stop took to reach the worker's pipeline and let it go, `--runs` times.

`--address` joins a cluster already running instead (`ray start --head --num-cpus=2`, two workers on it): its
head `HOST:PORT` (this process joins as a driver) or `ray://HOST:PORT` (through Ray Client: the songs stream
through the bridge actor, app/cluster/bridge.py). Run it once each way against the same head to compare them;
each run pairs its cluster against the same local pipeline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from app.cluster.messages import Started  # plain data, no Ray
from app.settings import load_settings
from app.studio.engines import PipelineMusicMaker
from app.studio.errors import JobCancelled
from app.studio.jobs import MusicSettings, Progress, Sheet, TakeAudio
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


def songs_per_hour(maker, songs: int, seconds: float, at_once: int) -> float:
    """Songs per hour for `songs` songs made `at_once` at a time."""
    sheet = Sheet(**SHEET, seconds=seconds)

    def one(seed: int) -> None:
        maker.make(sheet, MusicSettings(variants=1, seed=seed), lambda event: None, threading.Event())

    start = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(one, [11 + i for i in range(songs)]))
    return songs * 3600 / (time.perf_counter() - start)


def stop_to_free_s(cluster) -> float:
    """Seconds from a Stop of one of two running songs to its worker taking the next request."""
    cancels = [threading.Event(), threading.Event()]
    making = [threading.Event(), threading.Event()]

    def long_song(i: int) -> None:
        def emit(event) -> None:
            if isinstance(event, Progress) and event.phase == "tokens" and event.done > 0:
                making[i].set()

        try:
            cluster.make(Sheet(**SHEET, seconds=60.0), MusicSettings(variants=1, seed=11), emit, cancels[i])
        except JobCancelled:
            pass

    threads = [threading.Thread(target=long_song, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for event in making:
        event.wait()
    start = time.perf_counter()
    cancels[0].set()
    taken = None
    # The smallest request there is (one frame to decode): only when a worker takes it matters here.
    pump = cluster.link.stream("decode", ("hny", np.zeros((1, 8), np.int64), 0))
    while taken is None:
        if isinstance(pump.replies.get(timeout=120), Started):  # (a broken call: queue.Empty, not a hang)
            taken = time.perf_counter() - start
    pump.cancel()
    cancels[1].set()
    for thread in threads:
        thread.join()
    return taken


def warm(maker, seconds: float) -> None:
    with ThreadPoolExecutor(maker.slots) as pool:
        list(pool.map(lambda seed: first_audio_s(maker, seconds, seed), range(1, maker.slots + 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--data", type=Path, default=Path("/tmp/heartsong-bench-cluster"))
    parser.add_argument("--address", default="local", help="the cluster: `local` (started here), HOST:PORT or "
                        "ray://HOST:PORT (one already running)")
    args = parser.parse_args()
    use_threads(1)
    from app.cluster.maker import ClusterMusicMaker  # Ray: imported for the cluster only

    local = PipelineMusicMaker(tiny_settings(args.data))
    cluster = ClusterMusicMaker.connect(tiny_settings(args.data, ray_address=args.address, ray_replicas=2))
    try:
        warm(local, args.seconds)
        warm(cluster, args.seconds)
        rates: dict[str, list[float]] = {"local pipeline": [], "cluster, 1 worker busy": [], "cluster, 2 workers busy": []}
        for _ in range(args.rounds):
            rates["local pipeline"].append(songs_per_hour(local, args.songs, args.seconds, 1))
            rates["cluster, 1 worker busy"].append(songs_per_hour(cluster, args.songs, args.seconds, 1))
            rates["cluster, 2 workers busy"].append(songs_per_hour(cluster, args.songs, args.seconds, 2))
        firsts: dict[str, list[float]] = {"local": [], "cluster": []}
        for _ in range(args.runs):
            firsts["local"].append(first_audio_s(local, args.seconds, 11))
            firsts["cluster"].append(first_audio_s(cluster, args.seconds, 11))
        stops = [stop_to_free_s(cluster) for _ in range(args.runs)]
    finally:
        cluster.close()

    print(f"cluster at {args.address}; {args.songs} songs of {args.seconds:g} s a round, {args.rounds} rounds (tiny, CPU, 1 torch thread each); "
          f"load average after: {os.getloadavg()[0]:.2f}")
    print("| setup | songs/hour (median) | each round |")
    print("|---|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")
    deltas = [c - l for l, c in zip(firsts["local"], firsts["cluster"])]
    print(f"time to first audio, {args.runs} runs each in turns: local median {statistics.median(firsts['local']) * 1000:.0f} ms, "
          f"cluster median {statistics.median(firsts['cluster']) * 1000:.0f} ms, paired difference median "
          f"{statistics.median(deltas) * 1000:+.0f} ms (min {min(deltas) * 1000:+.0f}, max {max(deltas) * 1000:+.0f})")
    print(f"Stop to the worker taking the next request ({args.runs} runs): median {statistics.median(stops) * 1000:.0f} ms, "
          f"worst {max(stops) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
