"""The GPU-planning numbers of benchmarks/bench_profile.py: op and sync counting, full-size byte counts."""

import torch

from benchmarks.bench_profile import OpCounter, full_lm_bytes_rows


def test_op_counter_counts_kernels_and_host_syncs_not_views():
    x = torch.ones(4)
    with OpCounter() as counter:
        y = (x * 2).view(2, 2)  # one kernel, one view
        bool(y.sum() > 0)  # two kernels and a host read
    assert counter.ops["aten.mul"] == 1 and "aten.view" not in counter.ops
    assert counter.syncs == 1


def test_full_lm_reads_about_eleven_gigabytes_per_frame():
    weights = full_lm_bytes_rows()[0]
    gigabytes = float(weights["value"].removesuffix(" GB"))
    assert 9.5 < gigabytes < 12.0  # the 3B backbone once + the 300M decoder 7 times, bf16
