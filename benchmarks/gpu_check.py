"""The first minutes on a GPU: one run that measures every GPU target and checks the claims made without one.

    python benchmarks/gpu_check.py --device cuda --config full --out "$OUT"      # about 8 minutes on an H200
    python benchmarks/gpu_check.py --device cpu --config tiny --seconds 4 --no-compile  # the CPU code path

Full-size models with random weights (no downloads: `bench_lm.random_model`, `bench_pipeline.random_codec`), the
LM in bfloat16 on a GPU (float32 on the CPU), cfg 1.5, top-k 50, codec 10 steps. The frame step comes in four
kinds (`generation.FrameSteps`): "eager"; "static" (`decode_frame_at`: the position on the device, every shape
fixed, the step a CUDA graph records); "graphed" (that step replayed from a CUDA graph, `lm/graphs.py`); and
"compiled+graphed" (the compiled static step in the graph). The first GPU run (benchmarks/RESULTS.md) found the
eager 3B frame at 70 ms on an H200, bound by the host's ~2,000 launches, and a first compile of 155 s, so the
graphed step comes first and compiling last. One run gives, in this order:
1. LM ms/frame (1 and 4 variants, guidance on) near the start of a song and near position 3,000 (a 240 s song's
   end; the KV cache is read up to there), eager and graphed (on the CPU: static).
2. Token checks on the device: graphed against static (the same kernels: a replay must equal them frame for
   frame), against eager (bf16 kernels may round differently), and a 4-variant batch against each alone.
3. Whole songs end to end (`MusicPipeline.generate`, codec windows decoded during the LM) with 1 and 4 variants,
   graphed: wall time, LM and codec seconds, time to first audio, and peak memory (`max_memory_allocated` and
   `max_memory_reserved`) of the whole song; then the codec alone on the 1-variant song's tokens. Both models
   stay on the GPU throughout, so every peak includes both models' weights (the setup row gives each).
4. int8 weights (`quantize.py`) on a second copy of the LM: whether torch's int8 kernel runs on the device,
   eager and graphed ms/frame, and the weight bytes.
5. The compiled path: a first short song (its compile time), ms/frame compiled+graphed, and a long song (a new
   KV-cache length: how many graphs compile again).
Each row is printed and `gpu_check.json` / `gpu_check.md` under --out (default: $OUT, else benchmarks/out) are
rewritten as soon as it is measured, so a run stopped by its time limit keeps what it measured; a step that
fails is a row with its error and the run goes on; no step starts after --budget seconds (default 480). The
tables are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402

from benchmarks.bench_lm import CONFIGS  # noqa: E402
from benchmarks.bench_lm import build as build_lm  # noqa: E402
from benchmarks.bench_pipeline import GEN, SONG, build_codec  # noqa: E402
from benchmarks.run import print_tables  # noqa: E402
from heartmula_core.lm.generation import FramePicker, FrameSteps, generate_tokens  # noqa: E402
from heartmula_core.lm.heartmula import HeartMuLa  # noqa: E402
from heartmula_core.pipeline import MusicPipeline  # noqa: E402
from heartmula_core.lm.prompting import PromptBuilder  # noqa: E402
from heartmula_core.lm.quantize import weight_bytes  # noqa: E402
from heartmula_core.request import FRAME_RATE, MusicRequest  # noqa: E402

LATE_POSITION = 3000
"""A 240 s song's last frame position (3,000 frames after a prompt of about 100 rows)."""
GB = 1024**3


class Device:
    """Synchronising, peak memory and compile counts for the device under test (memory only on CUDA)."""

    def __init__(self, name: str):
        self.device = torch.device(name)
        self.cuda = self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.cuda:
            self.sync()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> dict:
        if not self.cuda:
            return {"peak alloc GB": "n/a", "peak reserved GB": "n/a"}
        return {
            "peak alloc GB": round(torch.cuda.max_memory_allocated(self.device) / GB, 2),
            "peak reserved GB": round(torch.cuda.max_memory_reserved(self.device) / GB, 2),
        }

    def timed(self, work: Callable[[], object]) -> tuple[object, float]:
        """(result, seconds) of `work`, synchronised on both sides."""
        self.sync()
        start = time.perf_counter()
        result = work()
        self.sync()
        return result, time.perf_counter() - start


def graphs_compiled() -> int:
    """Graphs dynamo has compiled in this process so far (a recompile adds one)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def step_flags(kind: str) -> dict[str, bool]:
    """`generate_tokens`' step arguments for one kind of frame step (see the module docstring)."""
    return {"compiled": kind.startswith("compiled"), "cuda_graph": kind.endswith("graphed"), "static_step": kind == "static"}


def frame_steps(kind: str, device: torch.device) -> FrameSteps:
    """The frame steps of one kind, as `generate_tokens` makes them for `step_flags(kind)`."""
    flags = step_flags(kind)
    return FrameSteps(flags["compiled"], device, flags["cuda_graph"], flags["static_step"])


def frame_ms(dev: Device, model: HeartMuLa, variants: int, position: int, frames: int, kind: str) -> float:
    """Mean ms of `frames` frame steps at positions position + 2.. (after two warm-up steps at position: the
    graphed kinds record their graph in the first).

    The KV cache is sized to reach past the last position; what it holds before `position` does not change the
    work (attention reads every filled slot either way; the static step reads every slot of the cache).
    """
    rows = 2 * variants  # guidance: a conditional and an unconditional row per variant
    gens = [torch.Generator(dev.device).manual_seed(i) for i in range(variants)]
    pick = FramePicker(model.config.audio_vocab_size, books=model.num_codebooks, cfg_scale=1.5, topk=50,
                       temperature=1.0, generators=gens, device=dev.device)
    steps = frame_steps(kind, dev.device)
    model.setup_caches(rows, min(model.config.backbone.max_seq_len, position + frames + 8))
    codes = torch.zeros((rows, model.num_codebooks), dtype=torch.long, device=dev.device)

    def run(start: int, count: int) -> torch.Tensor:
        nonlocal codes
        for pos in range(start, start + count):
            pick.start_frame(first=False)
            codes = steps.next(model, codes, pos, pick)
        return codes

    with torch.inference_mode():
        run(position, 2)  # warm-up (graphed: the recording; compiled: the graphs)
        _, seconds = dev.timed(lambda: run(position + 2, frames))
    model.clear_caches()
    return 1000 * seconds / frames


def lm_rows(dev: Device, model: HeartMuLa, frames: int, kind: str, variant_counts=(1, 4)) -> list[dict]:
    context = model.config.backbone.max_seq_len
    late = min(LATE_POSITION, context - frames - 16)
    rows = []
    for variants in variant_counts:
        for position in (100, late):
            dev.reset_peak()
            before = graphs_compiled()
            ms = frame_ms(dev, model, variants, position, frames, kind)
            rows.append({"part": "LM frame", "step": kind, "variants": variants, "position": position,
                         "ms/frame": round(ms, 2), "x real time": round(80 / ms, 1),
                         "graphs compiled": graphs_compiled() - before, **dev.peak()})
    return rows


def song_row(dev: Device, pipe: MusicPipeline, seconds: float, variants: int, label: str) -> tuple[dict, object]:
    """One whole song: wall time, phases, time to first audio, peak memory; and its result."""
    first_audio: list[float] = []
    request = MusicRequest(**SONG, seconds=seconds, variants=variants, seed=0)
    dev.reset_peak()
    before = graphs_compiled()
    start = time.perf_counter()

    def on_audio(chunk) -> None:
        if not first_audio:
            first_audio.append(time.perf_counter() - start)

    result, wall = dev.timed(lambda: pipe.generate(request, on_audio=on_audio))
    made = max(len(t) for t in result.tokens)
    row = {"part": "song", "step": label, "variants": variants, "song s": seconds, "frames": made,
           "wall s": round(wall, 2), "LM s": round(result.timings["tokens"], 2),
           "codec s": round(result.timings["decoding"], 2),
           "first audio s": round(first_audio[0], 2) if first_audio else "",
           "x real time": round(seconds * variants / wall, 2), "graphs compiled": graphs_compiled() - before,
           **dev.peak()}
    return row, result


def codec_row(dev: Device, pipe: MusicPipeline, tokens, seed: int) -> dict:
    """The codec alone on one song's tokens: seconds and peak memory."""
    dev.reset_peak()
    audio, seconds = dev.timed(lambda: pipe.decode(tokens, seed))
    return {"part": "codec", "song s": round(audio.shape[1] / pipe.sample_rate, 1), "wall s": round(seconds, 2),
            **dev.peak()}


def agreement(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Share of equal frames of two token tensors [frames, 8] and the first frame where they differ."""
    n = min(len(a), len(b))
    same = (a[:n] == b[:n]).all(dim=1).cpu()
    first = int((~same).nonzero()[0, 0]) if not bool(same.all()) else None
    return {"frames": n, "equal frames": f"{same.float().mean().item():.1%}",
            "first difference": "none" if first is None else first}


def token_rows(dev: Device, lm: HeartMuLa, frames: int, fast: str) -> list[dict]:
    """The LM alone (no codec), the `fast` step kind against its references, and 4 batched variants against
    each made alone."""
    prompt = PromptBuilder.from_folder(GEN, lm.num_codebooks).build(SONG["tags"], SONG["lyrics"])
    seeds = [11, 12, 13, 14]

    def tokens(seeds: list[int], kind: str):
        gens = [torch.Generator(dev.device).manual_seed(s) for s in seeds]
        return generate_tokens(lm, prompt, frames=frames, cfg_scale=1.5, topk=50, generators=gens,
                               **step_flags(kind))

    one = {kind: tokens(seeds[:1], kind).variant(0) for kind in dict.fromkeys((fast, "static", "eager"))}
    rows = [{"part": "tokens", "check": f"{fast} vs {ref}", **agreement(one[fast], one[ref])}
            for ref in ("static", "eager") if ref != fast]
    batch = tokens(seeds, fast)
    rows += [{"part": "tokens", "check": f"{fast}: variant {i} of 4 vs alone",
              **agreement(batch.variant(i), tokens([seeds[i]], fast).variant(0))} for i in (0, 3)]
    return rows


def int8_rows(dev: Device, config: str, frames: int, fast: str) -> list[dict]:
    """A second copy of the LM, quantised: whether the device's int8 kernel runs, ms/frame and weight bytes."""
    model, _ = build_lm(config, dev.device)
    before = weight_bytes(model)
    model.quantize_int8()
    row = {"part": "int8", "weights GB before": round(before / GB, 2), "weights GB int8": round(weight_bytes(model) / GB, 2)}
    for kind in dict.fromkeys(("eager", fast)):
        try:
            row[f"{kind} ms/frame (1 variant, position 100)"] = round(frame_ms(dev, model, 1, 100, frames, kind), 2)
        except (RuntimeError, NotImplementedError) as exc:  # an older torch without the device's int8 kernel
            row[f"{kind} error"] = str(exc).splitlines()[0][:160]
    del model
    if dev.cuda:
        torch.cuda.empty_cache()
    return [row]


class Recorder:
    """Rows as they come: each printed at once and the files under `out` rewritten, so a run cut short by its
    time limit still leaves everything measured so far."""

    def __init__(self, out: Path, budget_s: float):
        self.out, self.rows = out, []
        self.deadline = time.perf_counter() + budget_s
        out.mkdir(parents=True, exist_ok=True)

    def time_left(self, step: str) -> bool:
        """False (and a row saying so) once the run's time budget is spent: the later steps are skipped."""
        if time.perf_counter() < self.deadline:
            return True
        self.add({"part": "skipped", "step": step, "why": "the run's --budget is spent"})
        return False

    def add(self, *rows: dict) -> None:
        for row in rows:
            self.rows.append(row)
            print(json.dumps(row), flush=True)
        (self.out / "gpu_check.json").write_text(json.dumps(self.rows, indent=1))
        (self.out / "gpu_check.md").write_text(markdown(self.rows))


def run(args: argparse.Namespace, record: Recorder) -> None:
    """The checks in order of value, so that the first minutes give the most."""
    dev = Device(args.device)
    started = time.perf_counter()
    lm, dtype = build_lm(args.config, dev.device)
    codec = build_codec(args.config, dev.device)
    if dev.cuda:
        torch.cuda.empty_cache()  # the peaks below are the songs', not the random initialisation's
    record.add({"part": "setup", "config": args.config, "device": str(dev.device),
                "name": torch.cuda.get_device_name(dev.device) if dev.cuda else "cpu", "torch": torch.__version__,
                "LM dtype": str(dtype).removeprefix("torch."), "LM weights GB": round(weight_bytes(lm) / GB, 2),
                "codec weights GB": round(weight_bytes(codec) / GB, 2), **dev.peak()})
    fast = "graphed" if dev.cuda else "static"  # on the CPU the graph's step, without a graph
    song_kind = "graphed" if dev.cuda else "eager"  # the pipeline records graphs on CUDA only
    pipe = MusicPipeline.from_loaded(lm, codec, GEN, decode_steps=args.decode_steps, cuda_graph=dev.cuda)
    steps: list[tuple[str, Callable[[], list[dict]]]] = [
        ("LM eager", lambda: lm_rows(dev, lm, args.frames, "eager")),
        (f"LM {fast}", lambda: lm_rows(dev, lm, args.frames, fast)),
        ("tokens", lambda: token_rows(dev, lm, round(args.check_seconds * FRAME_RATE), fast)),
        (f"song, 1 variant, {song_kind}", lambda: song_and_codec_rows(dev, pipe, args.seconds, song_kind)),
        (f"song, 4 variants, {song_kind}", lambda: [song_row(dev, pipe, args.seconds, 4, song_kind)[0]]),
    ]
    if not args.no_int8:
        steps.append(("int8", lambda: int8_rows(dev, args.config, args.frames, fast)))
    if not args.no_compile:
        compiled = MusicPipeline.from_loaded(lm, codec, GEN, decode_steps=args.decode_steps, compiled=True,
                                             cuda_graph=dev.cuda)
        kind = "compiled+graphed" if dev.cuda else "compiled"
        steps += [
            ("compiled first song", lambda: [song_row(dev, compiled, args.short_seconds, 1, f"{kind}, first song (compiles)")[0]]),
            ("LM compiled", lambda: lm_rows(dev, lm, args.frames, kind, variant_counts=(1,))),
            ("compiled long song", lambda: [song_row(dev, compiled, args.seconds, 1, f"{kind}, long song (new cache length)")[0]]),
        ]
    for name, step in steps:
        if not record.time_left(name):
            break
        try:
            record.add(*step())
        except Exception as exc:  # noqa: BLE001 - one broken step must not cost the lease's other measurements
            traceback.print_exc()
            record.add({"part": "failed", "step": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
            if dev.cuda:
                torch.cuda.empty_cache()
    record.add({"part": "done", "total s": round(time.perf_counter() - started, 1)})


def song_and_codec_rows(dev: Device, pipe: MusicPipeline, seconds: float, label: str) -> list[dict]:
    """A one-variant song, then the codec alone on its tokens."""
    row, song = song_row(dev, pipe, seconds, 1, label)
    return [row, codec_row(dev, pipe, song.tokens[0], song.seeds[0])]


def markdown(rows: list[dict]) -> str:
    """One markdown table per part, in order."""
    parts: dict[str, list[dict]] = {}
    for row in rows:
        parts.setdefault(row["part"], []).append(row)
    out = []
    for part, part_rows in parts.items():
        columns = [c for c in dict.fromkeys(k for r in part_rows for k in r) if c != "part"]
        out += [f"### {part}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        out += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in part_rows]
        out.append("")
    return "\n".join(out)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--config", choices=CONFIGS, default="full")
    p.add_argument("--seconds", type=float, default=240.0, help="the whole-song length (default 240)")
    p.add_argument("--short-seconds", type=float, default=20.0, help="the compiled path's first, short song")
    p.add_argument("--check-seconds", type=float, default=20.0, help="the token checks' length (LM only)")
    p.add_argument("--frames", type=int, default=50, help="frames timed per LM row")
    p.add_argument("--decode-steps", type=int, default=10)
    p.add_argument("--no-compile", action="store_true", help="skip the compiled path")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 row")
    p.add_argument("--budget", type=float, default=480.0,
                   help="seconds after which no further step starts (default 480: a 10-minute call, less the last step)")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or Path(__file__).parent / "out"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse(argv)
    if args.config == "full" and args.device == "cpu":
        raise SystemExit("the full config needs a GPU (about 10 GB in bfloat16): use --config tiny or medium on the CPU")
    record = Recorder(args.out, args.budget)
    run(args, record)
    print()
    print_tables(record.rows)
    print(f"\nwritten: {args.out / 'gpu_check.json'}, {args.out / 'gpu_check.md'}")
    return record.rows


if __name__ == "__main__":
    main()
