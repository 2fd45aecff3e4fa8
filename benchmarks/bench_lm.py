"""HeartMuLa token-LM speed: ms per frame and real-time factor, against the official algorithm timed in the same run.

Method (the official timings' own, tests/fixtures/heartmula/timing.json): generate 1 frame and 41 frames from
the same prompt (the tiny golden prompt, 95 rows), cfg 1.5, top-k 50, temperature 1.0, seed 0; per-frame time =
(t41 - t1) / 40, the median of REPEATS warm repetitions. A frame is 80 ms of audio, so the real-time factor
is (ms per frame) / 80 (below 1 is faster than real time).

The speed-up is measured, not divided by a stored figure: the official algorithm, written with our modules
(`official_lm.py`: attention over the whole KV cache, the whole-vocabulary sampler, no compile), takes turns
with ours in every repetition, in one process, on the same weights and threads. The stored official figure
(another machine, another day) is a second column. Each row also says how close it is to the floor its
weight and cache bytes imply at this machine's measured read bandwidth (`floor.py`).

Configs: `tiny` is the tiny reference checkpoint; `medium` a random model (backbone 4 layers, dim 512,
8 heads, 4 kv, mlp 1536, context 8192; decoder 2 layers of the same widths); `full` the real 3B layout
with random weights in bfloat16 (GPU only: it needs ~8 GB).
"""
from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from benchmarks.floor import (
    floor_columns,
    frame_cache_bytes,
    frame_memory_bytes,
    frame_weight_bytes,
    last_level_cache_bytes,
    read_bandwidth,
)
from benchmarks.official_lm import official_generate, official_path_model
from heartmula_core.lm.config import CODEC_CODEBOOK_SIZE, FLAVORS, FRAME_MS, HeartMuLaConfig, LlamaConfig
from heartmula_core.lm.generation import generate_tokens
from heartmula_core.lm.heartmula import HeartMuLa, build_heartmula, load_heartmula
from heartmula_core.lm.packed import can_pack
from heartmula_core.lm.prompting import Prompt, PromptBuilder

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula"
MEDIUM_BACKBONE = LlamaConfig(
    num_layers=4, embed_dim=512, num_heads=8, num_kv_heads=4, intermediate_dim=1536, max_seq_len=8192
)
MEDIUM_DECODER = LlamaConfig(
    num_layers=2, embed_dim=512, num_heads=8, num_kv_heads=4, intermediate_dim=1536, max_seq_len=2048
)
CONFIGS = ("tiny", "medium", "full")
REPEATS = 5
OFFICIAL_PATH = "official path"


def random_model(config: HeartMuLaConfig, device: torch.device, dtype: torch.dtype) -> HeartMuLa:
    """Weights ~ N(0, 0.02), norm scales 1 (the speed does not depend on the values).

    The special ids (>= 8192) get zero logits, far below any top-50 threshold, so that a random model
    never ends the song inside the timed frames.
    """
    if torch.device(device).type == "cuda":  # the 3B model in float32 would take 13 GB of the card before the cast
        model = build_heartmula(config).to(dtype).to_empty(device=device)
    else:
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
        return load_heartmula(REF / "tiny" / "HeartMuLa-tiny", torch.float32, device, packed=False), torch.float32
    if config == "medium":
        medium = HeartMuLaConfig(backbone=MEDIUM_BACKBONE, decoder=MEDIUM_DECODER, text_vocab_size=512)
        return random_model(medium, device, torch.float32), torch.float32
    full = HeartMuLaConfig(backbone=FLAVORS["llama-3B"], decoder=FLAVORS["llama-300M"])
    return random_model(full, device, torch.bfloat16), torch.bfloat16


Runner = Callable[[int], Tensor]
"""run(frames) -> the frames one variant produced, (n, 8): one generation from the golden prompt, seed 0."""


@dataclass(frozen=True)
class Timing:
    """One runner's median warm repetition: wall and process CPU ms per frame, and the 1-frame call's wall ms."""

    ms: float
    cpu_ms: float
    first_ms: float


def golden_prompt() -> Prompt:
    """The tiny golden prompt (95 rows), the one the official timings used."""
    golden = np.load(REF / "golden" / "heartmula_tiny.npz")
    builder = PromptBuilder.from_folder(REF / "tiny" / "HeartMuLaGen-tiny")
    return builder.build(str(golden["tags_text"]), str(golden["lyrics_text"]))


def ours(model: HeartMuLa, prompt: Prompt, compiled: bool = False) -> Runner:
    """Our generation (cfg 1.5, top-k 50, temperature 1.0), eager or with the frame step compiled."""

    def run(frames: int) -> Tensor:
        gens = [torch.Generator(model.device).manual_seed(0)]
        out = generate_tokens(model, prompt, frames=frames, cfg_scale=1.5, topk=50, generators=gens, compiled=compiled)
        return out.variant(0)

    return run


def official(twin: HeartMuLa, prompt: Prompt) -> Runner:
    """The official algorithm on `official_lm.official_path_model`'s twin (same settings and seed)."""
    return lambda frames: official_generate(twin, prompt, frames, torch.Generator(twin.device).manual_seed(0))


def _timed(run: Runner, frames: int, device: torch.device) -> tuple[float, float, Tensor]:
    """(wall s, process CPU s, tokens) of one generation."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    tokens = run(frames)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu_start, tokens


def time_interleaved(
    runs: dict[str, Runner], frames: int, device: torch.device, repeats: int = REPEATS
) -> tuple[dict[str, Timing], dict[str, Tensor]]:
    """Each runner's ms per frame, (t_frames - t_1) / (frames - 1), in its median of `repeats` warm repetitions,
    and the tokens of its last run. The runners take turns within every repetition, so a change in the load of
    a shared machine touches them all alike."""
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
    tokens: dict[str, Tensor] = {}
    for rep in range(repeats + 1):  # the first repetition warms up
        for name, run in runs.items():
            t1, cpu1, _ = _timed(run, 1, device)
            tn, cpun, tokens[name] = _timed(run, frames, device)
            n = len(tokens[name])
            if n < frames:
                raise RuntimeError(f"{name}: the model ended the song after {n} frames; cannot time {frames}")
            if rep:
                samples[name].append(((tn - t1) / (n - 1) * 1000, (cpun - cpu1) / (n - 1) * 1000, t1 * 1000))
    timings = {name: Timing(*sorted(s)[len(s) // 2]) for name, s in samples.items()}
    return timings, tokens


def _same_greedy_tokens(model: HeartMuLa, prompt: Prompt, frames: int) -> bool:
    """Whether the compiled frame step gives the eager one's greedy tokens (cfg 1.5, top-k 1)."""
    eager, compiled = (
        generate_tokens(model, prompt, frames=frames, cfg_scale=1.5, topk=1, compiled=c).tokens for c in (False, True)
    )
    return torch.equal(eager, compiled)


def lm_rows(
    configs: list[str],
    device: str,
    quick: bool = False,
    compiled: bool = False,
    bandwidth: float | None = None,
    repeats: int = REPEATS,
    frames: int | None = None,
) -> list[dict]:
    """Per config: the official algorithm and ours (eager, and compiled when asked), timed in turns in this run.

    Columns: ms/frame; the official path's ms/frame from this run and the speed-up over it (in wall and in
    process CPU time: on a shared machine the CPU time moves less with the load); the stored
    official figure (timing.json: another machine, another day) and the ratio to it; the weight and KV cache
    bytes a frame reads, the floor they imply at `bandwidth` (bytes/s; measured here when None) and
    floor / measured. `frames` (default 41, 11 when `quick`) are timed per generation.
    """
    dev = torch.device(device)
    stored = json.loads((REF / "timing.json").read_text())
    prompt = golden_prompt()
    frames = frames or (11 if quick else 41)
    bandwidth = bandwidth or read_bandwidth(dev)
    rows = []
    for config in configs:
        if config == "full" and dev.type != "cuda":
            rows.append({"part": "LM", "config": config, "device": device, "note": "skipped: needs a GPU"})
            continue
        model, dtype = build(config, dev)
        runs = {OFFICIAL_PATH: official(official_path_model(model), prompt), "eager": ours(model, prompt)}
        notes = {}
        if compiled:  # the first song with a model compiles its steps; the timed runs are warm
            start = time.perf_counter()
            ours(model, prompt, compiled=True)(3)
            same = _same_greedy_tokens(model, prompt, frames)
            notes["compiled"] = f"compile {time.perf_counter() - start:.0f} s once; greedy tokens equal eager's: {same}"
            runs["compiled"] = ours(model, prompt, compiled=True)
        packed = copy.deepcopy(model).pack_weights() if can_pack(dev, dtype) else model
        if packed.is_packed:  # what load_heartmula gives on the CPU: the large matrices packed for oneDNN
            runs["packed"] = ours(packed, prompt)
            if compiled:
                ours(packed, prompt, compiled=True)(3)
                runs["compiled, packed"] = ours(packed, prompt, compiled=True)
        timings, tokens = time_interleaved(runs, frames, dev, repeats)
        notes[OFFICIAL_PATH] = f"sampled tokens equal ours: {torch.equal(tokens[OFFICIAL_PATH], tokens['eager'])}"
        for step in ("packed", "compiled, packed"):
            if step in tokens:
                notes[step] = f"sampled tokens equal eager's: {torch.equal(tokens[step], tokens['eager'])}"
        weights = frame_weight_bytes(model)
        from_memory = frame_memory_bytes(model, last_level_cache_bytes(dev))
        context = model.config.backbone.max_seq_len
        caches = {
            OFFICIAL_PATH: frame_cache_bytes(model, 2, context, whole_decoder=True),
            # ours reads the filled slots: those of the middle timed frame
            "eager": frame_cache_bytes(model, 2, prompt.length + frames // 2, whole_decoder=False),
        }
        reference, reference_cpu = timings[OFFICIAL_PATH].ms, timings[OFFICIAL_PATH].cpu_ms
        stored_ms = stored.get(config, {}).get("s_per_frame", 0) * 1000
        for step, timing in timings.items():
            rows.append({
                "part": "LM",
                "config": config,
                "device": device,
                "dtype": str(dtype).removeprefix("torch."),
                "step": step,
                "ms/frame": round(timing.ms, 2),
                # CPU time of the process per frame (all threads): on a shared machine it moves less than
                # wall time, which counts the time other processes held the cores.
                "cpu ms/frame": round(timing.cpu_ms, 2),
                "RTF": round(timing.ms / FRAME_MS, 4),
                "official path ms/frame": round(reference, 2),
                "speed-up": "" if step == OFFICIAL_PATH else f"{reference / timing.ms:.1f}x",
                "speed-up (cpu)": "" if step == OFFICIAL_PATH else f"{reference_cpu / timing.cpu_ms:.1f}x",
                "stored official ms/frame": round(stored_ms, 1) if stored_ms else "",
                "stored / this": f"{stored_ms / timing.ms:.1f}x" if stored_ms else "",
                **floor_columns(weights, caches.get(step, caches["eager"]), bandwidth, timing.ms, from_memory),
                "first frame ms": round(timing.first_ms, 1),
                "note": notes.get(step, ""),
            })
        del model, packed, runs
    return rows
