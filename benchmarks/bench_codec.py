"""HeartCodec decode speed and memory: seconds of compute per second of audio, peak RSS.

Method: the official timing (tests/fixtures/heartmula/timing.json) decoded T=400 codes (32 s of audio,
2 windows) with the defaults (10 Euler steps, guidance 1.25) on CPU, 2 threads, float32: 0.165 s per audio
second. We decode the same golden codes_T400 the same way, after one warm-up decode, and also a longer song
(T=1000, 80 s, 4 windows) to show that memory does not grow with length. Because that figure comes from an
idle machine, the T=400 row also times the official computation path with our modules on this machine
(`_official_path_timed`), for a same-machine speed-up. Peak memory is the process's
resident set size (RSS), sampled every 5 ms during the decode (the model and torch included).

Configs: `tiny` is the tiny reference checkpoint. `full` is the HeartCodec-oss layout with random weights
(the estimator in bfloat16), on CUDA only, for a 240 s song (T=3000); its peak is the GPU's.
`medium` has no codec rows.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import torch

from heartmula_core.codec import HeartCodec, HeartCodecConfig, decode, load_heartcodec
from heartmula_core.codec.checkpoint import build_heartcodec
from heartmula_core.codec.config import HOP_CODES, WINDOW_CODES
from heartmula_core.codec.stream import BatchDecoder
from heartmula_core.codec.windows import pad_codes, window_count

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "heartmula"
PAGE = 4096


class PeakRSS:
    """Samples the process's resident memory in a thread (Linux /proc); `peak_mb` after the block."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def random_codec(config: HeartCodecConfig, device: torch.device, dtype: torch.dtype) -> HeartCodec:
    """A HeartCodec of this layout with N(0, 0.02) weights (speed does not depend on the values)."""
    model = build_heartcodec(config).to_empty(device=device)
    gen = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.normal_(0, 0.02, generator=gen)
    model.estimator.to(dtype)
    return model.eval()


def _decode_timed(model: HeartCodec, codes: torch.Tensor, device: torch.device) -> tuple[float, float, float, int]:
    """(wall s, process CPU s, peak MB, samples) of one seeded decode."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as rss:
        start, cpu = time.perf_counter(), time.process_time()
        audio = decode(model, codes, generator=torch.Generator().manual_seed(1234))
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else rss.peak_mb
    return wall, cpu, peak, audio.shape[1]


def _official_path_timed(model: HeartCodec, codes: torch.Tensor) -> tuple[float, float]:
    """(wall s, process CPU s) of the official computation with our modules, on this machine: the same Euler
    loops, but every window's whole 744 latent frames through the SQ decoder in one pass (the crossfade is
    left out: it is negligible). The baseline for a same-machine speed-up when the official figure, measured
    on an idle machine, cannot be compared with a shared one."""
    start, cpu = time.perf_counter(), time.process_time()
    decoder = BatchDecoder(model, [torch.Generator().manual_seed(1234)], steps=10, guidance=1.25)
    padded = pad_codes(codes)
    with torch.inference_mode():
        for index in range(window_count(codes.shape[0])):
            window = padded[index * HOP_CODES : index * HOP_CODES + WINDOW_CODES]
            latents = decoder.window_latents(index, [0], [window])
            model.decoder(latents[0].unflatten(-1, (2, -1)).permute(1, 2, 0))  # (2, 1, 1428480)
    return time.perf_counter() - start, time.process_time() - cpu


def codec_rows(configs: list[str], device: str, quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    official = json.loads((REF / "timing.json").read_text())["heartcodec_tiny_detokenize"]["s_per_audio_s_T400"]
    rows = []
    for config in configs:
        if config == "medium":
            continue
        if config == "full" and dev.type != "cuda":
            rows.append({"part": "codec", "config": config, "device": device, "note": "skipped: needs a GPU"})
            continue
        if config == "tiny":
            model = load_heartcodec(REF / "tiny" / "HeartCodec-tiny", torch.float32, dev)
            with np.load(REF / "golden" / "heartcodec_tiny.npz") as golden:
                t400 = torch.from_numpy(golden["codes_T400"]).T
            lengths = {"T=400": t400} if quick else {"T=400": t400, "T=1000": t400.repeat(3, 1)[:1000]}
        else:
            manifest = json.loads((REF / "manifests" / "heartcodec-oss.json").read_text())
            model = random_codec(HeartCodecConfig.from_dict(manifest["config"]), dev, torch.bfloat16)
            codes = torch.randint(0, 8192, (3000, 8), generator=torch.Generator().manual_seed(0))
            lengths = {"T=3000": codes[:400]} if quick else {"T=3000": codes}
        _decode_timed(model, t400[:40] if config == "tiny" else codes[:40], dev)  # warm-up
        for label, codes in lengths.items():
            wall, cpu, peak, samples = _decode_timed(model, codes, dev)
            seconds = samples / model.sample_rate
            row = {
                "part": "codec",
                "config": config,
                "device": device,
                "dtype": "float32" if config == "tiny" else "bfloat16 estimator",
                "song": f"{label} ({seconds:.0f} s)",
                "s/audio-s": round(wall / seconds, 4),
                "cpu s/audio-s": round(cpu / seconds, 4),
                "peak MB": round(peak),
                "memory": "GPU allocated" if dev.type == "cuda" else "RSS",
            }
            if config == "tiny" and label == "T=400":
                row["official s/audio-s"] = round(official, 3)
                row["speed-up"] = f"{official * seconds / wall:.1f}x"
                ref_wall, ref_cpu = _official_path_timed(model, codes)
                row["official path here s/audio-s"] = round(ref_wall / seconds, 4)
                row["official path here cpu s/audio-s"] = round(ref_cpu / seconds, 4)
                # CPU time: on a shared machine it counts our work only, not the time others held the cores.
                row["speed-up here (cpu)"] = f"{ref_cpu / cpu:.1f}x"
            rows.append(row)
        del model
    return rows
