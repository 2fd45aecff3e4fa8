"""HeartCodec encoder speed and memory: seconds of compute per second of audio, peak RSS.

`python benchmarks/run.py` prints these rows in its encoder table; `python benchmarks/bench_encoder.py
[--config tiny|full]` runs this part alone.

Method: `HeartCodecEncoder.tokenize` on music (the golden 35 s stereo test signal at 24 kHz, looped to the
length wanted), after one warm-up chunk (tiny); CPU in float32 (the authors' advice for reconstruction).
Wall time on a shared machine mostly measures the other jobs, so process CPU time (all threads) is given
too. Peak memory is the process's resident set size (RSS) sampled every 5 ms during the encode, model and
torch included; "peak - model MB" is the peak minus the RSS right after the model was loaded.

Configs: `tiny` is the tiny reference checkpoint (tests/fixtures/heartcodec_encoder) with HeartCodec-tiny's
quantizer: 60 s at batch 1 and 2, and a 10-minute recording at batch 1, all measured. `full` is the official
HeartCodec-oss-encoder layout (536,970,736 parameters, config from manifest-encoder.json) with random
weights and a random 512-wide quantizer: it is slow on a small CPU, so it encodes `FULL_CHUNKS` chunks and
the 10-minute row is extrapolated from them (labelled so): time scales with the chunk count, and memory with
the recording only through the 24 kHz input held whole (measured on tiny: the 10-minute minus the 60 s peak).
`medium` has no encoder rows.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.bench_codec import PAGE, PeakRSS  # noqa: E402
from heartmula_core.codec.encoder import HeartCodecEncoder, load_encoder  # noqa: E402
from heartmula_core.codec.encoder.checkpoint import build_network  # noqa: E402
from heartmula_core.codec.encoder.config import CHUNK_SAMPLES, SAMPLE_RATE, EncoderConfig  # noqa: E402
from heartmula_core.codec.rvq import ResidualVQEncoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
REF = ROOT / "heartcodec_encoder"
CODEC = ROOT / "heartmula" / "tiny" / "HeartCodec-tiny"
SHORT_SECONDS = 60.0
LONG_SECONDS = 600.0
FULL_CHUNKS = 1
CHUNK_SECONDS = CHUNK_SAMPLES / SAMPLE_RATE


def rss_mb() -> float:
    """The process's resident memory now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def music(seconds: float) -> np.ndarray:
    """float32 (2, seconds * 24000): the golden 35 s stereo music, looped."""
    with np.load(REF / "golden_tiny.npz") as data:
        pcm = data["s24_35s/input_pcm16"].astype(np.float32) / 32768
    return np.stack([np.resize(channel, int(seconds * SAMPLE_RATE)) for channel in pcm])


def random_encoder(device: torch.device) -> HeartCodecEncoder:
    """The full-size layout with N(0, 0.02) weights (speed does not depend on the values)."""
    cfg = EncoderConfig.from_dict(json.loads((REF / "manifest-encoder.json").read_text())["config"])
    network = build_network(cfg).to_empty(device=device)
    with torch.device("meta"):
        quantizer = ResidualVQEncoder(8, 8192, 32, cfg.query.dim)
    quantizer = quantizer.to_empty(device=device)
    gen = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, tensor in [*network.named_parameters(), *network.named_buffers(), *quantizer.named_parameters(),
                             *quantizer.named_buffers()]:
            if tensor.is_floating_point():
                tensor.fill_(1.0) if name.endswith("running_var") else tensor.normal_(0, 0.02, generator=gen)
    network.features.drop_unread_layers()
    return HeartCodecEncoder(network, quantizer).eval()


def _encode_timed(encoder: HeartCodecEncoder, wave: np.ndarray, batch: int) -> tuple[float, float, float]:
    """(wall s, process CPU s, peak RSS MB) of one tokenize."""
    with PeakRSS() as rss:
        start, cpu = time.perf_counter(), time.process_time()
        encoder.tokenize(wave, SAMPLE_RATE, batch_size=batch)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, rss.peak_mb


def _row(config: str, seconds: float, batch: int, timed: tuple[float, float, float], model_mb: float,
         note: str = "") -> dict:
    wall, cpu, peak = timed
    return {
        "part": "encoder",
        "config": config,
        "device": "cpu",
        "audio s": f"{seconds:.0f}",
        "batch": batch,
        "wall s per audio s": f"{wall / seconds:.3f}",
        "cpu s per audio s": f"{cpu / seconds:.3f}",
        "peak MB": round(peak),
        "peak - model MB": round(peak - model_mb),
        "note": note,
    }


def encoder_rows(configs: list[str], device: str, quick: bool) -> list[dict]:
    """Rows for `tiny` and `full` (CPU only; on CUDA the encoder is measured by the same rows' code)."""
    dev = torch.device(device)
    rows: list[dict] = []
    if "tiny" in configs:
        encoder = load_encoder(REF / "HeartCodec-encoder-tiny", CODEC, device=dev)
        model_mb = rss_mb()
        encoder.tokenize(music(1.0), SAMPLE_RATE)  # warm-up: one chunk
        short = music(CHUNK_SECONDS if quick else SHORT_SECONDS)
        short_seconds = short.shape[1] / SAMPLE_RATE
        measured: dict[int, float] = {}
        for batch in (1,) if quick else (1, 2):
            timed = _encode_timed(encoder, short, batch)
            measured[batch] = timed[2]
            rows.append(_row("tiny", short_seconds, batch, timed, model_mb))
        if not quick:
            timed = _encode_timed(encoder, music(LONG_SECONDS), 1)
            rows.append(_row("tiny", LONG_SECONDS, 1, timed, model_mb, "10-minute recording, measured"))
            growth = timed[2] - measured[1]  # what 9 more minutes of input cost; the chunks' share is the same
        del encoder
    if "full" in configs:
        encoder = random_encoder(dev)
        model_mb = rss_mb()
        chunks = 1 if quick else FULL_CHUNKS
        wave = music(chunks * CHUNK_SECONDS)
        wall, cpu, peak = _encode_timed(encoder, wave, 1)  # no warm-up: one more chunk costs minutes here
        seconds = wave.shape[1] / SAMPLE_RATE
        rows.append(_row("full (random)", seconds, 1, (wall, cpu, peak), model_mb, f"{chunks} chunk(s), measured"))
        if "tiny" in configs and not quick:
            scale = math.ceil(LONG_SECONDS / CHUNK_SECONDS) / chunks
            rows.append(_row(
                "full (random)", LONG_SECONDS, 1, (wall * scale, cpu * scale, peak + growth), model_mb,
                f"10-minute recording, EXTRAPOLATED: time x{scale:g} (chunks), "
                f"peak + {growth:.0f} MB input growth measured on tiny",
            ))
        del encoder
    return rows


if __name__ == "__main__":
    import argparse

    from benchmarks.run import print_table

    parser = argparse.ArgumentParser(description="HeartCodec encoder speed and memory on the CPU")
    parser.add_argument("--config", choices=("tiny", "full"), action="append")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print_table(encoder_rows(args.config or ["tiny"], "cpu", args.quick))
