"""What the cluster's song queue (app/cluster/song_queue.py, turns.py) adds to a song: the round trip of a turn
granted at once (what every song on a cluster pays before its request goes to Serve), how soon a waiting song
hears its turn when the song ahead of it leaves, and how soon the page's place moves up after a Stop.

    python -m benchmarks.bench_cluster_queue [--runs 200]

Method: a local Ray cluster this process starts (no music workers: the queue orders admission only), the
studio's own `ClusterQueue` client on a queue actor of its own (not the named one of a studio). Turn at once:
`wait_turn` + `leave` with a free worker, `--runs` times, after 20 untimed. Hand-over: one worker; a held ticket
leaves while another waits on a thread: from the `leave` call to that thread's `wait_turn` returning. Place:
one worker held, two tickets waiting; the first gives up (a Stop, at a random moment): from its Stop to the
second's `on_place(1)` (a waiting song looks for a Stop every 0.1 s, as a song on a worker does).
Medians, 90th percentiles and maxima in ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Callable

import ray

from app.cluster.song_queue import SongQueue
from app.cluster.turns import POLL_S, ClusterQueue


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(1000 * s for s in seconds)
    return (f"| {name} | {statistics.median(ms):.1f} | {ms[int(0.9 * (len(ms) - 1))]:.1f} | {ms[-1]:.1f} | "
            f"{len(ms)} |")


def turn_at_once(queue: ClusterQueue) -> float:
    start = time.perf_counter()
    queue.leave(queue.wait_turn(lambda place: None, lambda: None))
    return time.perf_counter() - start


def waiting(queue: ClusterQueue, on_place: Callable[[int], None], check: Callable[[], None]) -> threading.Thread:
    """A song waiting for its turn on a thread; the thread ends when it has it (or `check` raised)."""

    def run() -> None:
        try:
            queue.leave(queue.wait_turn(on_place, check))
        except InterruptedError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def hand_over(queue: ClusterQueue) -> float:
    held = queue.wait_turn(lambda place: None, lambda: None)
    placed = threading.Event()
    thread = waiting(queue, lambda place: placed.set(), lambda: None)
    placed.wait(10)
    start = time.perf_counter()
    queue.leave(held)
    thread.join(10)
    return time.perf_counter() - start


def place_after_stop(queue: ClusterQueue) -> float:
    held = queue.wait_turn(lambda place: None, lambda: None)
    stop, first_placed, moved = threading.Event(), threading.Event(), threading.Event()
    places: list[int] = []

    def check_stop() -> None:
        if stop.is_set():
            raise InterruptedError

    first = waiting(queue, lambda place: first_placed.set(), check_stop)
    first_placed.wait(10)
    second = waiting(queue, lambda place: (places.append(place), place == 1 and moved.set()), lambda: None)
    while places != [2]:
        time.sleep(0.001)
    # At a random point of the stopped song's look for a Stop (every turns.POLL_S), as a musician's click is.
    time.sleep(random.uniform(0, POLL_S))
    start = time.perf_counter()
    stop.set()
    moved.wait(10)
    elapsed = time.perf_counter() - start
    first.join(10)
    queue.leave(held)
    second.join(10)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    ray.init(include_dashboard=False, log_to_driver=False)
    actor = ray.remote(SongQueue).options(num_cpus=0).remote()
    queue = ClusterQueue(actor)
    ray.get(actor.configure.remote(1))
    for _ in range(20):
        turn_at_once(queue)
    rows = [summary("turn at once (wait_turn + leave)", [turn_at_once(queue) for _ in range(args.runs)]),
            summary("hand-over to the next song", [hand_over(queue) for _ in range(args.runs // 4)]),
            summary("place moves up after a Stop", [place_after_stop(queue) for _ in range(args.runs // 4)])]
    print("| what | median ms | p90 ms | max ms | runs |\n|---|---|---|---|---|")
    print("\n".join(rows))
    queue.close()
    ray.shutdown()


if __name__ == "__main__":
    main()
