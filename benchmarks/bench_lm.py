"""HeartMuLa token-LM speed: ms per frame, frames/s and real-time factor, next to the official figures.

Method (the same as the official timings in tests/fixtures/heartmula/timing.json): generate 1 frame and
41 frames from the same prompt (the tiny golden prompt, 95 rows), cfg 1.5, top-k 50, temperature 1.0;
per-frame time = (t41 - t1) / 40, the median of REPEATS warm repetitions (one timing on a 2-core machine moves by
5-10% with whatever else runs). A frame is 80 ms of audio, so the
real-time factor is (ms per frame) / 80 (below 1 is faster than real time).

Configs: `tiny` is the tiny reference checkpoint; `medium` a random model (backbone 4 layers, dim 512,
8 heads, 4 kv, mlp 1536, context 8192; decoder 2 layers of the same widths); `full` the real 3B layout
with random weights in bfloat16 (GPU only: it needs ~8 GB).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from heartmula_core.lm.config import CODEC_CODEBOOK_SIZE, FLAVORS, FRAME_MS, HeartMuLaConfig, LlamaConfig
from heartmula_core.lm.generation import generate_tokens
from heartmula_core.lm.heartmula import HeartMuLa, build_heartmula, load_heartmula
from heartmula_core.lm.prompting import PromptBuilder

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula"
MEDIUM_BACKBONE = LlamaConfig(
    num_layers=4, embed_dim=512, num_heads=8, num_kv_heads=4, intermediate_dim=1536, max_seq_len=8192
)
MEDIUM_DECODER = LlamaConfig(
    num_layers=2, embed_dim=512, num_heads=8, num_kv_heads=4, intermediate_dim=1536, max_seq_len=2048
)
CONFIGS = ("tiny", "medium", "full")
REPEATS = 5


def random_model(config: HeartMuLaConfig, device: torch.device, dtype: torch.dtype) -> HeartMuLa:
    """Weights ~ N(0, 0.02), norm scales 1 (the speed does not depend on the values).

    The special ids (>= 8192) get zero logits, far below any top-50 threshold, so that a random model
    never ends the song inside the timed frames.
    """
    model = build_heartmula(config, device).to(dtype)
    gen = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".scale"):
                param.fill_(1.0)
            else:
                param.normal_(0, 0.02, generator=gen)
        model.codebook0_head.weight[CODEC_CODEBOOK_SIZE:] = 0
        model.audio_head[..., CODEC_CODEBOOK_SIZE:] = 0
    return model.eval()


def build(config: str, device: torch.device) -> tuple[HeartMuLa, torch.dtype]:
    if config == "tiny":
        return load_heartmula(REF / "tiny" / "HeartMuLa-tiny", torch.float32, device), torch.float32
    if config == "medium":
        medium = HeartMuLaConfig(backbone=MEDIUM_BACKBONE, decoder=MEDIUM_DECODER, text_vocab_size=512)
        return random_model(medium, device, torch.float32), torch.float32
    full = HeartMuLaConfig(backbone=FLAVORS["llama-3B"], decoder=FLAVORS["llama-300M"])
    return random_model(full, device, torch.bfloat16), torch.bfloat16


def _timed(model: HeartMuLa, prompt, frames: int, device: torch.device, compiled: bool) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, frames produced) of one generation."""
    gens = [torch.Generator(device).manual_seed(0)]
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    out = generate_tokens(
        model, prompt, frames=frames, cfg_scale=1.5, topk=50, temperature=1.0, generators=gens, compiled=compiled
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu_start, out.lengths[0]


def _same_greedy_tokens(model: HeartMuLa, prompt, frames: int) -> bool:
    """Whether the compiled frame step gives the eager one's greedy tokens (cfg 1.5, top-k 1)."""
    eager, compiled = (
        generate_tokens(model, prompt, frames=frames, cfg_scale=1.5, topk=1, compiled=c).tokens for c in (False, True)
    )
    return torch.equal(eager, compiled)


def lm_rows(configs: list[str], device: str, quick: bool = False, compiled: bool = False) -> list[dict]:
    """Per config, ours (eager, and compiled when asked) vs the official code's ms/frame (CPU, 2 threads, fp32)."""
    dev = torch.device(device)
    official = json.loads((REF / "timing.json").read_text())
    golden = np.load(REF / "golden" / "heartmula_tiny.npz")
    builder = PromptBuilder.from_folder(REF / "tiny" / "HeartMuLaGen-tiny")
    prompt = builder.build(str(golden["tags_text"]), str(golden["lyrics_text"]))
    frames = 11 if quick else 41
    rows = []
    for config in configs:
        if config == "full" and dev.type != "cuda":
            rows.append({"part": "LM", "config": config, "device": device, "note": "skipped: needs a GPU"})
            continue
        model, dtype = build(config, dev)
        for mode in (False, True) if compiled else (False,):
            rows.append(_lm_row(model, dtype, prompt, config, device, frames, official, mode))
        del model
    return rows


def _lm_row(model, dtype, prompt, config: str, device: str, frames: int, official: dict, compiled: bool) -> dict:
    dev = torch.device(device)
    compile_s = time.perf_counter()
    if compiled:  # the first song with a model compiles its steps; the timed runs below are warm
        generate_tokens(model, prompt, frames=3, cfg_scale=1.5, topk=50, compiled=True)
    compile_s = time.perf_counter() - compile_s
    per_frame = []  # (wall s, cpu s) per frame of each warm repetition
    for rep in range(REPEATS + 1):  # the first repetition warms up
        t1, cpu1, _ = _timed(model, prompt, 1, dev, compiled)
        tn, cpun, n = _timed(model, prompt, frames, dev, compiled)
        if n < frames:
            raise RuntimeError(f"{config}: the model ended the song after {n} frames; cannot time {frames}")
        if rep:
            per_frame.append(((tn - t1) / (n - 1), (cpun - cpu1) / (n - 1)))
    wall, cpu = sorted(per_frame)[len(per_frame) // 2]  # the median repetition
    ms = wall * 1000
    ref = official.get(config, {}).get("s_per_frame")
    row = {
        "part": "LM",
        "config": config,
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "ms/frame": round(ms, 2),
        "frames/s": round(1000 / ms, 1),
        "RTF": round(ms / FRAME_MS, 4),
        "official ms/frame": round(ref * 1000, 1) if ref else "",
        "speed-up": f"{ref * 1000 / ms:.1f}x" if ref else "",
        "first frame ms": round(t1 * 1000, 1),
        # CPU time of the process per frame (all threads): on a shared machine it moves less than
        # wall time, which counts the time other processes held the cores.
        "cpu ms/frame": round(cpu * 1000, 2),
        "step": "compiled" if compiled else "eager",
    }
    if compiled:
        same = _same_greedy_tokens(model, prompt, frames)
        row["note"] = f"compile {compile_s:.0f} s once; greedy tokens equal eager's: {same}"
    return row
