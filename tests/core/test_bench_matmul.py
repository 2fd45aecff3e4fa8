"""The frame's matrix-product chain of benchmarks/bench_matmul.py (no time is asserted on)."""

import torch

from benchmarks.bench_matmul import frame_matrices, matmul_rows, memory_bytes
from benchmarks.floor import frame_weight_bytes
from heartmula_core.lm.heartmula import load_heartmula


def test_the_chain_reads_every_frame_weight_except_the_gathered_embeddings(heartmula_ref):
    model = load_heartmula(heartmula_ref / "tiny" / "HeartMuLa-tiny", torch.float32, "cpu", packed=False)
    matrices = frame_matrices(model)
    # backbone: 2 layers x 4 matrices + the codebook-0 head; 7 decoder steps of projection, 2 x 4, one head
    assert len(matrices) == 2 * 4 + 1 + 7 * (1 + 2 * 4 + 1)
    norms = 4 * (2 * 2 + 1) * 64 + 7 * 4 * (2 * 2 + 1) * 32  # RMSNorm scales, read but not multiplied by
    gathered = 4 * 15 * 64
    assert sum(m.numel() * 4 for m in matrices) == frame_weight_bytes(model) - norms - gathered


def test_matmul_rows_time_linear_and_packed_for_both_dtypes():
    rows = matmul_rows(["tiny"], "cpu", bandwidth=1e10)
    assert [row["dtype"] for row in rows] == ["float32", "bfloat16"]
    for row in rows:
        assert row["F.linear ms/frame"] > 0 and row["floor/F.linear"].endswith("%")


def test_a_repeated_matrix_counts_once_only_when_the_repeated_ones_fit_in_the_cache():
    shared, head = torch.zeros(8, 8), torch.zeros(4, 8)
    chain = [head, shared, shared, shared]
    assert memory_bytes(chain, cache_size=8 * 8 * 4) == (32 + 64) * 4
    assert memory_bytes(chain, cache_size=8 * 8 * 4 - 1) == (32 + 3 * 64) * 4
