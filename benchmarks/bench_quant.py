"""What reading fewer weight bytes buys: bfloat16 and int8 weights against float32, speed and quality.

A frame of the LM is memory-bound (`floor.py`): its time is the weight bytes it reads over the machine's read
bandwidth. Each row gives the bytes a frame reads with that kind of weights, the floor they imply, the
measured ms/frame (the kinds take turns in every repetition) and what the fewer bytes cost in quality.
Quality is measured with teacher forcing, so one early difference does not make every later frame differ:
the float32 model generates greedy frames (cfg 1.5); the other model then reads the same frames and
predicts each code from the same history. `code agreement` is the share of its greedy codes that equal the
reference ones; `c0 logit error` is the relative error of the first frame's codebook-0 logits.
Random-weight models (tiny, medium) have nearly flat logits, which makes this a pessimistic test: a trained
model's peaked distributions leave fewer near-ties for the rounding to flip.
`full` is the 3B layout built on `meta` (no weights needed): only its memory is reported.
"""

from __future__ import annotations

import torch

from benchmarks.bench_lm import REPEATS, build, golden_prompt, ours, time_interleaved
from benchmarks.floor import (
    floor_columns,
    frame_cache_bytes,
    frame_memory_bytes,
    frame_weight_bytes,
    last_level_cache_bytes,
    read_bandwidth,
)
from heartmula_core.lm.config import FLAVORS, HeartMuLaConfig
from heartmula_core.lm.generation import FramePicker, generate_tokens, prefill
from heartmula_core.lm.heartmula import HeartMuLa, build_heartmula
from heartmula_core.lm.prompting import Prompt
from heartmula_core.lm.quantize import weight_bytes


@torch.inference_mode()
def teacher_forced(model: HeartMuLa, prompt: Prompt, reference: torch.Tensor) -> tuple[float, float]:
    """(share of greedy codes equal to `reference` (n, 8) given its history, first frame's c0 logits)."""
    picker = FramePicker(
        model.config.audio_vocab_size, books=8, cfg_scale=1.5, topk=1, temperature=1.0, generators=[None], device=model.device
    )
    agree, total, c0 = 0, 0, None
    frame = 0

    def forced(logits: torch.Tensor, book: int) -> torch.Tensor:
        nonlocal agree, total, c0
        guided = picker.sampler_logits(logits)
        if c0 is None:
            c0 = guided[0].clone()
        guided = guided.masked_fill(picker.banned, float("-inf"))
        agree += int(guided.argmax(-1)[0] == reference[frame, book])
        total += 1
        return reference[frame, book].repeat(2)  # both rows of the guided pair read the reference code

    model.setup_caches(2)
    last_h = prefill(model, prompt, torch.zeros(1, model.config.muq_dim), uncond_rows=1)
    picker.start_frame(first=True)
    model.generate_frame(last_h, forced)
    for frame in range(1, len(reference)):
        picker.start_frame(first=False)
        codes = reference[frame - 1].repeat(2, 1)
        last_h = model.backbone(model.embed_frame(codes), prompt.length + frame - 1)[:, -1]
        model.generate_frame(last_h, forced)
    return agree / total, c0


WEIGHTS = {
    "float32": (torch.float32, False),
    "bfloat16": (torch.bfloat16, False),
    "int8, bfloat16 activations": (torch.bfloat16, True),
    "int8, float32 activations": (torch.float32, True),
}
"""Row label -> (activation dtype, int8 weights). float32 is the reference the others are compared with."""

_INT8_NOTE = {
    "int8, bfloat16 activations": "CPU: torch's int8 weight-only kernel reads the int8 bytes directly",
    "int8, float32 activations": "CPU: each int8 matrix is converted per call (its point is memory, not speed)",
}


def _variant(config: str, device: torch.device, dtype: torch.dtype, int8: bool) -> HeartMuLa:
    model = build(config, device)[0].to(dtype)
    return model.quantize_int8() if int8 else model  # in place: the float weights go one matrix at a time


def quant_rows(
    configs: list[str],
    device: str,
    quick: bool = False,
    bandwidth: float | None = None,
    repeats: int = REPEATS,
    frames: int | None = None,
) -> list[dict]:
    """Per config, one row per kind of weights (`WEIGHTS`), timed in turns: ms/frame, the weight bytes a frame
    reads and the floor they imply at `bandwidth` (bytes/s; measured here when None), and quality against the
    float32 model (teacher-forced code agreement, first frame's codebook-0 logit error). Shows what reading
    fewer bytes buys on this machine. `full` gives the 3B layout's memory only (built on `meta`). `frames` as in
    `bench_lm.lm_rows`."""
    rows = []
    prompt = golden_prompt()
    frames = frames or (11 if quick else 41)
    dev = torch.device(device)
    bandwidth = bandwidth or read_bandwidth(dev)
    for config in configs:
        if config == "full":
            full = HeartMuLaConfig(backbone=FLAVORS["llama-3B"], decoder=FLAVORS["llama-300M"])
            model = build_heartmula(full).to(torch.bfloat16)
            bf16 = weight_bytes(model)
            int8 = weight_bytes(model.quantize_int8())
            note = "bfloat16 vs int8 weights of the 3B LM (embeddings stay bfloat16)"
            rows.append({"part": "weights", "config": "full (meta)", "weights": "bfloat16 / int8",
                         "weights MB": f"{bf16 / 1e6:.0f} / {int8 / 1e6:.0f}", "note": note})
            continue
        models = {label: _variant(config, dev, dtype, int8) for label, (dtype, int8) in WEIGHTS.items()}
        reference_model = models["float32"]
        reference = generate_tokens(reference_model, prompt, frames=frames, cfg_scale=1.5, topk=1).variant(0)
        _, c0_ref = teacher_forced(reference_model, prompt, reference)
        timings, _ = time_interleaved({label: ours(m, prompt) for label, m in models.items()}, frames, dev, repeats)
        slots = prompt.length + frames // 2
        for label, model in models.items():
            ms = timings[label].ms
            row = {
                "part": "weights",
                "config": config,
                "weights": label,
                "weights MB": round(weight_bytes(model) / 1e6, 1),
                "ms/frame": round(ms, 2),
                "cpu ms/frame": round(timings[label].cpu_ms, 2),
                "vs float32": f"{timings['float32'].ms / ms:.2f}x",
                **floor_columns(
                    frame_weight_bytes(model), frame_cache_bytes(model, 2, slots, False), bandwidth, ms,
                    frame_memory_bytes(model, last_level_cache_bytes(dev)),
                ),
            }
            if label == "float32":
                row["code agreement"] = "(reference)"
            else:
                agreement, c0 = teacher_forced(model, prompt, reference)
                row["code agreement"] = f"{agreement:.1%}"
                row["c0 logit error"] = f"{float((c0 - c0_ref).norm() / c0_ref.norm()):.2%}"
            row["note"] = _INT8_NOTE.get(label, "") if dev.type == "cpu" else ""
            rows.append(row)
        del models, reference_model
    return rows
