"""MuQ-MuLan style-encoder speed: seconds to embed one minute of reference audio, and one style text.

Method: one warm-up, then the best of a few repetitions of `StyleEncoder.embed_waveform` on 60 s of the
golden test music (the 35 s golden waveform, looped), clip by clip (batch 1, the official default) and
6 clips per pass; a text is the golden English prompt embedded alone. Caches are bypassed.

Configs: `tiny` is the tiny reference checkpoint (tests/fixtures/muq_mulan/tiny); `full` the real
MuQ-MuLan-large layout (the configs from manifest-large.json) with random weights, in float32 on CPU and
bfloat16 on CUDA (it needs ~2.7 GB). `medium` has no style model and gives no rows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from heartmula_core.style import StyleEncoder, load_mulan
from heartmula_core.style.config import AudioTowerConfig, MulanConfig, TextModelConfig
from heartmula_core.style.loading import LoadedMulan
from heartmula_core.style.mulan import MuLan
from heartmula_core.style.tokenizer import TOKENIZER_FILE, TextTokenizer

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "muq_mulan"
SECONDS = 60.0
QUICK_SECONDS = 20.0
TEXT = "classical genres, hopeful mood, piano."


def _full_random(device: torch.device, dtype: torch.dtype) -> LoadedMulan:
    """MuQ-MuLan-large with N(0, 0.02) weights (speed does not depend on the values), norm scales 1."""
    configs = {k: v["value"] for k, v in json.loads((REF / "manifest-large.json").read_text())["config"].items()}
    cfg = MulanConfig.from_dict(configs["MuQ-MuLan-large/config.json"])
    audio = AudioTowerConfig.from_dict(configs["OpenMuQ/MuQ-large-msd-iter/config.json"], cfg.sample_rate)
    text = TextModelConfig.from_dict(configs["xlm-roberta-base/config.json"])
    cfg = cfg.with_submodels(audio, text, "manifest-large.json")
    with torch.device(device):
        model = MuLan(cfg)
    gen = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() > 1:
                param.normal_(0, 0.02, generator=gen)
    model = model.to(dtype).eval()
    # The tiny tokenizer is enough to time the text path: its ids are valid in the large vocabulary.
    tokenizer = TextTokenizer(REF / "tiny" / "xlm-roberta-tiny" / TOKENIZER_FILE, text.pad_token_id)
    return LoadedMulan(model, tokenizer, "random")


def _best_time(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up: kernels, allocator, filterbank tables
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def style_rows(configs: list[str], device: str, quick: bool) -> list[dict]:
    """One row per (config, clip batch): seconds per minute of audio, real-time factor, text latency."""
    dev = torch.device(device)
    with np.load(REF / "golden_tiny.npz") as data:
        music = data["audio35_wav"]
    seconds = QUICK_SECONDS if quick else SECONDS
    samples = int(seconds * 24000)
    wave = torch.from_numpy(np.resize(music, samples))  # loops the 35 s of music
    repeats = 1 if quick else 3
    rows = []
    for config in configs:
        if config == "tiny":
            mulan, dtype = load_mulan(REF / "tiny" / "MuQ-MuLan-tiny", "float32", dev), "float32"
        elif config == "full":
            dtype = "bfloat16" if dev.type == "cuda" else "float32"
            mulan = _full_random(dev, getattr(torch, dtype))
        else:
            continue
        for batch in (1, 6):
            encoder = StyleEncoder(mulan, clip_batch=batch)
            elapsed = _best_time(lambda: encoder.embed_waveform(wave), repeats, dev)
            text_s = _best_time(lambda: encoder.embed_text([TEXT]), repeats, dev)  # a list is never cached
            rows.append({
                "part": "style",
                "config": config,
                "device": device,
                "dtype": dtype,
                "clip batch": batch,
                "s per min audio": f"{elapsed * 60.0 / seconds:.3f}",
                "x real time": f"{seconds / elapsed:.0f}",
                "text ms": f"{text_s * 1000:.1f}",
            })
        del mulan
    return rows
