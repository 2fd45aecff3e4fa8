"""Print Heartsong's speed table: `python benchmarks/run.py [--config tiny|medium|full] [--device cpu|cuda] [--quick]`.

Each part of the engine measures itself in its own `benchmarks/bench_<part>.py` (functions returning rows,
one dict per line of the table); this script only picks the parts and prints one table per part (bandwidth,
LM, matmuls, weights, song, codec, style, stream), each with only the columns its rows fill. The LM rows carry the
official algorithm timed in the same run and the floor set by the measured weight-read bandwidth.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402

from benchmarks.bench_codec import codec_rows  # noqa: E402
from benchmarks.bench_encoder import encoder_rows  # noqa: E402
from benchmarks.bench_lm import CONFIGS, lm_rows  # noqa: E402
from benchmarks.bench_matmul import matmul_rows  # noqa: E402
from benchmarks.bench_pipeline import pipeline_rows  # noqa: E402
from benchmarks.bench_profile import profile_rows  # noqa: E402
from benchmarks.bench_quant import quant_rows  # noqa: E402
from benchmarks.bench_stream import stream_rows  # noqa: E402
from benchmarks.bench_style import style_rows  # noqa: E402
from benchmarks.floor import bandwidth_row, read_bandwidth  # noqa: E402


def print_tables(rows: list[dict]) -> None:
    """One table per value of the rows' "part" column, in the order the parts first appear."""
    parts: dict[str, list[dict]] = {}
    for row in rows:
        parts.setdefault(str(row.get("part", "")), []).append(row)
    for index, part_rows in enumerate(parts.values()):
        if index:
            print()
        print_table(part_rows)


def print_table(rows: list[dict]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=CONFIGS, action="append", help="repeatable; default tiny and medium")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer frames/steps: a smoke test, not a measurement")
    parser.add_argument("--profile", action="store_true", help="also print where GPU time will go (op counts, bytes)")
    parser.add_argument("--compile", action="store_true", help="also time the LM with its frame step compiled")
    parser.add_argument("--int8", action="store_true", help="also measure bfloat16 and int8 weights: bytes, speed, quality")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, as the official timings)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs = args.config or (["tiny", "medium", "full"] if args.device == "cuda" else ["tiny", "medium"])
    bandwidth = read_bandwidth(args.device)  # with the thread count just set: the LM rows' floors divide by it
    rows = [bandwidth_row(args.device, bandwidth)]
    rows += lm_rows(configs, args.device, args.quick, args.compile, bandwidth)
    rows += matmul_rows(configs, args.device, bandwidth)  # CPU: the wall, or a kernel short of it?
    if args.int8:
        full = [] if "full" in configs else ["full"]
        rows += quant_rows(configs + full, args.device, args.quick, bandwidth)
    rows += pipeline_rows(configs, args.device, args.quick)
    rows += codec_rows(configs, args.device, args.quick)
    rows += style_rows(configs, args.device, args.quick)
    rows += encoder_rows(configs, args.device, args.quick)
    rows += stream_rows(configs, args.device, args.quick)
    print_tables(rows)
    if args.profile:
        print("\nWhere GPU time will go (measured on this machine; see benchmarks/bench_profile.py)\n")
        print_table(profile_rows(args.quick))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{torch.get_num_threads()} threads, {os.cpu_count()} cores, load average {load:.2f} (wall times are noisy "
          "when other processes share the cores)")


if __name__ == "__main__":
    main()
