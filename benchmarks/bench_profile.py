"""Where GPU time will go: counts measured on the CPU (no GPU was lent), turned into the numbers to check on one.

- LM ops per frame: every aten op the frame step dispatches (views excluded: they launch no kernel), counted
  with a TorchDispatchMode over a real generation of the `medium` LM, frames 2..n minus frame 1; and the host
  syncs per frame (`is_nonzero`/`item`: a `bool()`/`.item()` of a tensor, which on a GPU waits for the
  queue to drain). On the CPU the end-of-audio check is read every frame; the GPU path reads it every 8.
- Weight bytes per frame for the full 3B model in bf16 (`floor.frame_weight_bytes` on the model built on
  `meta`: the backbone and the heads once, the decoder and its input projection for each of the 7 decoder
  steps), plus the backbone KV cache read at the end of a 240 s song; at the H100's ~3.35 TB/s that is the
  per-frame lower bound.
- Codec estimator FLOPs per window (full-size layout on `meta`): one guided Euler step is one estimator call
  on 2 rows of 744 latent frames; a window is 10 steps.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.bench_lm import build
from benchmarks.floor import cache_bytes, frame_weight_bytes, frame_weight_parts
from heartmula_core.codec.checkpoint import build_heartcodec
from heartmula_core.codec.config import FRAME_RATE, HOP_CODES, HeartCodecConfig
from heartmula_core.lm.config import FLAVORS, FRAME_MS, HeartMuLaConfig
from heartmula_core.lm.generation import generate_tokens
from heartmula_core.lm.heartmula import build_heartmula
from heartmula_core.lm.prompting import PromptBuilder

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula"
H100_BYTES_PER_S = 3.35e12
H100_BF16_FLOPS = 989e12  # dense peak; real kernels reach perhaps half
SONG_240S_FRAMES = 3000
DECODE_STEPS = 10
WINDOW_LATENTS = 744
SYNC_OPS = ("aten.is_nonzero", "aten.item", "aten._local_scalar_dense")  # a tensor read on the host


class OpCounter(TorchDispatchMode):
    """Counts the non-view aten ops dispatched inside the block, and the host syncs among them."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view:
            self.ops[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    @property
    def syncs(self) -> int:
        return sum(self.ops[op] for op in SYNC_OPS)


def _counted(model, prompt, frames: int) -> OpCounter:
    counter = OpCounter()
    with counter:
        generate_tokens(model, prompt, frames=frames, cfg_scale=1.5, topk=50, temperature=1.0,
                        generators=[torch.Generator().manual_seed(0)])
    return counter


def lm_op_rows(config: str = "medium", frames: int = 9) -> list[dict]:
    """Ops and host syncs per frame of the LM step (frames 2..n), measured on the CPU."""
    model, _ = build(config, torch.device("cpu"))
    golden = np.load(REF / "golden" / "heartmula_tiny.npz")
    prompt = PromptBuilder.from_folder(REF / "tiny" / "HeartMuLaGen-tiny").build(
        str(golden["tags_text"]), str(golden["lyrics_text"])
    )
    one, many = _counted(model, prompt, 1), _counted(model, prompt, frames)
    per_frame = {op: (many.ops[op] - one.ops[op]) / (frames - 1) for op in many.ops}
    top = sorted(per_frame.items(), key=lambda kv: -kv[1])[:5]
    return [{
        "part": "profile", "what": f"LM ops per frame ({config}, CPU path)",
        "value": round((many.total - one.total) / (frames - 1), 1),
        "note": "top: " + ", ".join(f"{op.removeprefix('aten.')} {n:.0f}" for op, n in top),
    }, {
        "part": "profile", "what": "LM host syncs per frame (CPU path)",
        "value": round((many.syncs - one.syncs) / (frames - 1), 2),
        "note": "the end-of-audio check; the GPU path reads it once per 8 frames",
    }]


def full_lm_bytes_rows() -> list[dict]:
    """Bytes the full 3B LM reads per frame in bf16, and the H100 bandwidth bound they imply."""
    cfg = HeartMuLaConfig(backbone=FLAVORS["llama-3B"], decoder=FLAVORS["llama-300M"])
    model = build_heartmula(cfg).to(torch.bfloat16)  # meta: shapes only
    once, per_step, _ = frame_weight_parts(model)
    weights = frame_weight_bytes(model)
    kv = cache_bytes(cfg.backbone, 2, SONG_240S_FRAMES, torch.bfloat16.itemsize)  # 2 CFG rows
    bound_ms = (weights + kv) / H100_BYTES_PER_S * 1000
    return [
        {"part": "profile", "what": "3B bf16 weight bytes per frame", "value": f"{weights / 1e9:.2f} GB",
         "note": f"backbone and heads {once / 1e9:.2f} GB once, decoder step {per_step / 1e9:.2f} GB x{cfg.audio_num_codebooks - 1}"},
        {"part": "profile", "what": "3B KV cache read per frame at 240 s", "value": f"{kv / 1e9:.2f} GB",
         "note": f"2 CFG rows x {SONG_240S_FRAMES} positions"},
        {"part": "profile", "what": "H100 bandwidth bound per frame", "value": f"{bound_ms:.2f} ms",
         "note": f"at 3.35 TB/s; real-time factor {bound_ms / FRAME_MS:.3f}; issue target 8 ms"},
    ]


def codec_flops_rows() -> list[dict]:
    """Estimator FLOPs of one full-size codec window (10 guided Euler steps), counted on `meta`."""
    cfg = HeartCodecConfig()
    codec = build_heartcodec(cfg)
    inputs = torch.empty((2, WINDOW_LATENTS, cfg.in_channels), device="meta")
    with FlopCounterMode(display=False) as flops:
        codec.estimator(inputs, torch.zeros(2, device="meta"))
    per_window = flops.get_total_flops() * DECODE_STEPS
    h100_s = per_window / H100_BF16_FLOPS
    return [{"part": "profile", "what": "codec estimator FLOPs per window", "value": f"{per_window / 1e12:.2f} TFLOP",
             "note": f"10 steps x 2 rows x {WINDOW_LATENTS} latents; each window adds {HOP_CODES / FRAME_RATE:g} s, "
                     f"so {per_window / 1e12 / (HOP_CODES / FRAME_RATE):.2f} TFLOP per audio s; H100 peak bound "
                     f"{h100_s:.3f} s per window, {h100_s / (HOP_CODES / FRAME_RATE):.4f} s per audio s (target 0.03)"}]


def profile_rows(quick: bool = False) -> list[dict]:
    """Every 'where GPU time will go' row."""
    return lm_op_rows("tiny" if quick else "medium", 5 if quick else 9) + full_lm_bytes_rows() + codec_flops_rows()
