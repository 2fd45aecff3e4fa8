"""What int8 weights cost and save: weight memory, speed, and quality against the unquantised model.

Quality is measured with teacher forcing, so one early difference does not make every later frame differ:
the unquantised model generates greedy frames (cfg 1.5); the int8 model then reads the same frames and
predicts each code from the same history. `code agreement` is the share of its greedy codes that equal the
reference ones; `c0 logit error` is the relative error of the first frame's codebook-0 logits.
Random-weight models (tiny, medium) have nearly flat logits, which makes this a pessimistic test: a trained
model's peaked distributions leave fewer near-ties for the rounding to flip.
`full` is the 3B layout built on `meta` (no weights needed): only its memory is reported.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.bench_lm import REF, build
from heartmula_core.lm.config import FLAVORS, FRAME_MS, HeartMuLaConfig
from heartmula_core.lm.generation import FramePicker, generate_tokens, prefill
from heartmula_core.lm.heartmula import HeartMuLa, build_heartmula
from heartmula_core.lm.prompting import Prompt, PromptBuilder
from heartmula_core.lm.quantize import quantize_int8, weight_bytes


def _prompt() -> Prompt:
    golden = np.load(REF / "golden" / "heartmula_tiny.npz")
    builder = PromptBuilder.from_folder(REF / "tiny" / "HeartMuLaGen-tiny")
    return builder.build(str(golden["tags_text"]), str(golden["lyrics_text"]))


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


_SPEED_NOTE = {
    torch.float32: "CPU float32 converts each int8 matrix per call (memory, not speed, is its point)",
    torch.bfloat16: "CPU bfloat16 reads the int8 bytes directly (torch's int8 weight-only kernel)",
    None: "the device converts each int8 matrix per call",
}


def _ms_per_frame(model: HeartMuLa, prompt: Prompt, frames: int) -> float:
    times = []
    for n in (1, frames, 1, frames):  # the second pair is the warm one
        start = time.perf_counter()
        generate_tokens(model, prompt, frames=n, cfg_scale=1.5, topk=50, generators=[torch.Generator().manual_seed(0)])
        times.append(time.perf_counter() - start)
    return (times[3] - times[2]) / (frames - 1) * 1000


def quant_rows(configs: list[str], device: str, quick: bool = False) -> list[dict]:
    """One row per config and activation dtype (float32, bfloat16): weight memory and ms/frame of the float
    and the int8 model, and the int8 model's teacher-forced code agreement with the float32 one."""
    rows = []
    prompt = _prompt()
    frames = 11 if quick else 41
    for config in configs:
        if config == "full":
            full = HeartMuLaConfig(backbone=FLAVORS["llama-3B"], decoder=FLAVORS["llama-300M"])
            model = build_heartmula(full).to(torch.bfloat16)
            bf16 = weight_bytes(model)
            int8 = weight_bytes(quantize_int8(model))
            note = "bfloat16 vs int8 weights of the 3B LM (embeddings stay bfloat16)"
            rows.append({"part": "int8", "config": "full (meta)", "float MB": round(bf16 / 1e6), "int8 MB": round(int8 / 1e6), "note": note})
            continue
        dev = torch.device(device)
        reference_model, _ = build(config, dev)
        reference = generate_tokens(reference_model, prompt, frames=frames, cfg_scale=1.5, topk=1).variant(0)
        _, c0_ref = teacher_forced(reference_model, prompt, reference)
        for dtype in (torch.float32, torch.bfloat16):
            float_model = build(config, dev)[0].to(dtype)
            float_ms, float_bytes = _ms_per_frame(float_model, prompt, frames), weight_bytes(float_model)
            int8_model = quantize_int8(float_model)  # in place: the float weights go one matrix at a time
            agreement, c0 = teacher_forced(int8_model, prompt, reference)
            ms = _ms_per_frame(int8_model, prompt, frames)
            rows.append({
                "part": "int8",
                "config": config,
                "dtype": str(dtype).removeprefix("torch."),
                "float MB": round(float_bytes / 1e6, 1),
                "int8 MB": round(weight_bytes(int8_model) / 1e6, 1),
                "float ms/frame": round(float_ms, 2),
                "ms/frame": round(ms, 2),
                "RTF": round(ms / FRAME_MS, 4),
                "code agreement": f"{agreement:.1%}",
                "c0 logit error": f"{float((c0 - c0_ref).norm() / c0_ref.norm()):.2%}",
                "note": f"teacher-forced over {len(reference)} greedy frames of the float32 model; "
                + _SPEED_NOTE[dtype if dev.type == "cpu" else None],
            })
    return rows
