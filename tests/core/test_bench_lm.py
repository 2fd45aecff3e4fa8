"""The LM benchmark's same-run baseline and floor (benchmarks/official_lm.py, floor.py, bench_lm.py, run.py).

Times are never asserted on (a loaded machine must not fail a test): only that the official path computes the
official tokens, that the byte counts are right, and that `run.py --quick`'s table code fills its columns.
"""

import math

import numpy as np
import torch

from benchmarks.bench_lm import MEDIUM_BACKBONE, MEDIUM_DECODER, OFFICIAL_PATH, golden_prompt, lm_rows
from benchmarks.bench_quant import quant_rows
from benchmarks.floor import (
    bandwidth_row,
    frame_cache_bytes,
    frame_memory_bytes,
    frame_weight_bytes,
    frame_weight_parts,
    last_level_cache_bytes,
    read_bandwidth,
)
from benchmarks.official_lm import official_generate, official_path_model
from benchmarks.run import print_tables
from heartmula_core.lm.config import HeartMuLaConfig
from heartmula_core.lm.generation import generate_tokens
from heartmula_core.lm.heartmula import build_heartmula, load_heartmula

SMALL_PROBE = 4 * 2**20  # a quick bandwidth probe: the tests check the table, not the machine


def _tiny(heartmula_ref):
    return load_heartmula(heartmula_ref / "tiny" / "HeartMuLa-tiny", torch.float32, "cpu", packed=False)


def test_official_path_gives_the_official_golden_tokens_and_ours(heartmula_ref):
    model = _tiny(heartmula_ref)
    twin = official_path_model(model)
    assert twin.codebook0_head.weight.data_ptr() == model.codebook0_head.weight.data_ptr()  # shared, not copied
    prompt = golden_prompt()
    golden = np.load(heartmula_ref / "golden" / "heartmula_tiny.npz")["gen_cfg15_topk1_frames"]
    greedy = official_generate(twin, prompt, 10, torch.Generator().manual_seed(0), topk=1)
    assert torch.equal(greedy, torch.from_numpy(golden[:10]))
    sampled = official_generate(twin, prompt, 6, torch.Generator().manual_seed(3))
    gens = [torch.Generator().manual_seed(3)]
    assert torch.equal(sampled, generate_tokens(model, prompt, frames=6, generators=gens).variant(0))


def test_frame_weight_bytes_count_backbone_once_and_the_decoder_seven_times(heartmula_ref):
    model = _tiny(heartmula_ref)
    cfg = model.config

    def stack(c):  # a Llama stack's parameters: per layer q/k/v/o, gate/up/down, two norms; the final norm
        attention = c.embed_dim * (c.num_heads + 2 * c.num_kv_heads) * c.head_dim + c.num_heads * c.head_dim * c.embed_dim
        return c.num_layers * (attention + 3 * c.embed_dim * c.intermediate_dim + 2 * c.embed_dim) + c.embed_dim

    dim, dec, vocab = cfg.backbone.embed_dim, cfg.decoder.embed_dim, cfg.audio_vocab_size
    once = stack(cfg.backbone) + dim * vocab + 7 * dec * vocab  # backbone, codebook-0 head, the 7 audio heads
    per_step = stack(cfg.decoder) + dim * dec  # decoder and projection
    gathered = 15 * dim  # 8 codes into the backbone, 7 into the decoder
    assert frame_weight_bytes(model) == 4 * (once + 7 * per_step + gathered)
    assert frame_weight_bytes(model.to(torch.bfloat16)) == 2 * (once + 7 * per_step + gathered)
    # int8 matrices (1 byte + one bfloat16 scale per output row) read fewer bytes than bfloat16
    assert frame_weight_bytes(model.quantize_int8()) < 2 * (once + 7 * per_step + gathered)


def test_the_official_path_reads_the_whole_cache():
    medium = build_heartmula(HeartMuLaConfig(backbone=MEDIUM_BACKBONE, decoder=MEDIUM_DECODER, text_vocab_size=512))
    whole = frame_cache_bytes(medium, 2, 8192, whole_decoder=True)
    # 4 layers x k and v x 2 rows x 4 kv heads x 64 dims x 8192 slots x 4 bytes, plus the decoder's 7 x 8 slots
    assert whole == 2 * 4 * 2 * 4 * 64 * 8192 * 4 + 2 * 2 * 2 * 4 * 64 * 56 * 4
    assert frame_cache_bytes(medium, 2, 100, whole_decoder=False) < whole / 50


def test_run_quick_tables_fill_the_same_run_and_floor_columns(capsys):
    bandwidth = read_bandwidth("cpu", nbytes=SMALL_PROBE, repeats=2)
    assert math.isfinite(bandwidth) and bandwidth > 0
    rows = [bandwidth_row("cpu", bandwidth)] + lm_rows(["tiny"], "cpu", bandwidth=bandwidth, repeats=1, frames=3)
    steps = {row["step"]: row for row in rows[1:]}
    assert set(steps) == {OFFICIAL_PATH, "eager"}  # tiny's matrices are too narrow to gain from packing
    assert steps[OFFICIAL_PATH]["note"] == "sampled tokens equal ours: True"
    assert steps["eager"]["speed-up"].endswith("x") and steps["eager"]["stored official ms/frame"] == 19.2
    assert steps[OFFICIAL_PATH]["KV MB/frame"] > steps["eager"]["KV MB/frame"]
    for row in steps.values():
        assert row["floor/measured"].endswith("%") and row["floor ms/frame"] > 0
    print_tables(rows)
    out = capsys.readouterr().out
    for column in ("weight-read GB/s", "official path ms/frame", "speed-up", "stored official ms/frame",
                   "weights MB/frame", "floor ms/frame", "floor/measured"):
        assert column in out


def test_weights_rows_compare_bfloat16_and_int8_with_float32():
    rows = quant_rows(["tiny"], "cpu", bandwidth=1e10, repeats=1, frames=3)
    kinds = {row["weights"]: row for row in rows}
    assert list(kinds) == ["float32", "bfloat16", "int8, bfloat16 activations", "int8, float32 activations"]
    assert kinds["bfloat16"]["weights MB/frame"] < kinds["float32"]["weights MB/frame"]
    assert kinds["int8, bfloat16 activations"]["weights MB/frame"] < kinds["bfloat16"]["weights MB/frame"]
    for kind in list(kinds)[1:]:
        assert kinds[kind]["code agreement"].endswith("%")


def test_a_decoder_that_fits_in_the_cache_is_read_from_memory_once_a_frame(heartmula_ref):
    model = _tiny(heartmula_ref)
    once, per_step, gathered = frame_weight_parts(model)
    assert frame_memory_bytes(model, cache_size=per_step) == once + per_step + gathered
    assert frame_memory_bytes(model, cache_size=per_step - 1) == frame_weight_bytes(model)
    assert last_level_cache_bytes("cpu") >= 0
