"""The real pipeline on a stand-in CUDA device (tests/core/fake_cuda.py): every op must find its tensors on one
device, and the host must wait on the GPU only every 8 frames (the end-of-song check) and per codec window.

Covered: the LM's prefill and frames in bfloat16 (and float16 with int8 weights), a style vector, codec windows
decoded while the LM runs, the offload path when memory is short (the LM leaves for the codec and comes back),
MuQ-MuLan style text, and a CPU generator refused for a GPU model. What the stand-in cannot check: the GPU's
own kernels (which dtypes each supports, TF32 rounding, speed), torch.compile for CUDA, and real memory use;
`benchmarks/gpu_check.py` measures those on a GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.bench_lm import random_model
from heartmula_core.accelerator import DeviceMemory
from heartmula_core.codec import load_heartcodec
from heartmula_core.codec.windows import target_samples
from heartmula_core.lm.config import HeartMuLaConfig
from heartmula_core.errors import InvalidRequest
from heartmula_core.lm.generation import generate_tokens
from heartmula_core.hub import MusicModels
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.lm.quantize import Int8Linear
from heartmula_core.request import MusicRequest
from heartmula_core.progress import Phase

from .fake_cuda import FakeCuda, FakeCudaAccelerator, FakeCudaTensor
from .heartmula_support import one_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")

GB = 1024**3
CPU = torch.device("cpu")
ROOMY = DeviceMemory(free=60 * GB)
SHORT = DeviceMemory(free=1 * GB, reserved=1 * GB, allocated=1 * GB)  # below the 2 GB activation margin alone
SONG = dict(tags="pop,piano", lyrics="[verse]\nthe sun is up\n[chorus]\nla la la", seed=3)
STOP_CHECK_EVERY = 8


@pytest.fixture(scope="module")
def models(heartmula_ref: Path) -> MusicModels:
    tiny = heartmula_ref / "tiny"
    return MusicModels(tiny / "HeartMuLa-tiny", tiny / "HeartMuLaGen-tiny", tiny / "HeartCodec-tiny")


def on_gpu(module: torch.nn.Module) -> bool:
    tensors = [*module.parameters(), *module.buffers()]
    assert all(isinstance(t, FakeCudaTensor) for t in tensors) or not any(isinstance(t, FakeCudaTensor) for t in tensors)
    return isinstance(tensors[0], FakeCudaTensor)


class Marks:
    """Progress events and audio chunks, each noted with the phase and frame the stand-in logs against."""

    def __init__(self, cuda: FakeCuda):
        self.cuda = cuda
        self.audio_at: list[tuple[Phase, int]] = []

    def progress(self, event) -> None:
        self.cuda.phase = (event.phase, event.done)

    def on_audio(self, chunk) -> None:
        self.audio_at.append(self.cuda.phase)


def test_a_song_stays_on_the_gpu_and_waits_on_it_every_8_frames_and_per_window(models):
    # 31 s: past the first codec window (373 frames), so one window per variant is decoded during the LM.
    # The tiny LM with random weights whose end-of-audio ids are never sampled (`bench_lm.random_model`): the
    # tiny checkpoint ends most songs before the first window.
    request = MusicRequest(**SONG, seconds=31.0, variants=2, style=torch.ones(512).numpy())
    with FakeCuda() as cuda, torch.inference_mode():  # models made as the pipeline makes them (see fake_cuda.py)
        lm = random_model(HeartMuLaConfig.from_folder(models.lm), CPU, torch.bfloat16).to("cuda")
        codec = load_heartcodec(models.codec, torch.bfloat16, "cuda")
        pipe = MusicPipeline.from_loaded(lm, codec, models.gen, decode_steps=1, accelerator=FakeCudaAccelerator(ROOMY))
        marks = Marks(cuda)
        result = pipe.generate(request, progress=marks.progress, on_audio=marks.on_audio)
        assert on_gpu(pipe.lm) and on_gpu(pipe.codec)
    frames = max(len(t) for t in result.tokens)
    assert frames == request.frames and all(a.shape == (2, target_samples(frames)) for a in result.audio)

    early = {frame for phase, frame in marks.audio_at if phase is Phase.TOKENS}
    assert len(early) == 1 and sum(phase is Phase.TOKENS for phase, _ in marks.audio_at) == 2  # both variants
    token_events = [t for t in cuda.transfers if t.phase is not None and t.phase[0] is Phase.TOKENS]
    waits = sorted({t.phase[1] for t in token_events})
    stop_checks = [k for k in range(2, frames + 1) if (k - 1) % STOP_CHECK_EVERY == 0]
    assert set(waits) <= set(stop_checks) | early | {frames}, f"a per-frame host sync or copy: {waits}"
    reads = [t.phase[1] for t in token_events if t.kind == "read" and t.phase[1] not in early | {frames}]
    assert reads == stop_checks  # exactly one end-of-song read every 8 frames
    assert sum(cuda.conv_precision.values()) > 0 and set(cuda.conv_precision) == {"ieee"}  # no TF32 unless asked


def test_when_memory_is_short_the_lm_makes_room_for_the_codec_and_comes_back(models):
    with FakeCuda() as cuda:
        pipe = MusicPipeline(models, "cuda", "bfloat16", decode_steps=1, accelerator=FakeCudaAccelerator(SHORT))
        marks = Marks(cuda)
        first = pipe.generate(MusicRequest(**SONG, seconds=1.0), progress=marks.progress, on_audio=marks.on_audio)
        assert not on_gpu(pipe.lm) and on_gpu(pipe.codec)  # the LM moved to the CPU to make room
        assert marks.audio_at and all(phase is not Phase.TOKENS for phase, _ in marks.audio_at)  # none beside the LM
        where = []  # where each model is while the LM makes frames of the second song
        second = pipe.generate(
            MusicRequest(**SONG, seconds=1.0),
            progress=lambda e: where.append((on_gpu(pipe.lm), on_gpu(pipe.codec))) if e.phase is Phase.TOKENS else None,
        )
        assert set(where) == {(True, False)}  # the LM came back and the codec made room for it
        assert not on_gpu(pipe.lm) and on_gpu(pipe.codec)  # and the other way round for decoding
        decoded = pipe.decode(second.tokens[0], second.seeds[0])
    assert (first.tokens[0] == second.tokens[0]).all() and decoded.shape == second.audio[0].shape


def test_int8_weights_are_quantised_before_they_reach_the_gpu_and_read_as_int8(models):
    with FakeCuda() as cuda:
        pipe = MusicPipeline(models, "cuda", "float16", decode_steps=1, int8=True, accelerator=FakeCudaAccelerator(ROOMY))
        result = pipe.generate(MusicRequest(**SONG, seconds=1.0, variants=2), progress=Marks(cuda).progress)
        lm = pipe.lm
        assert lm.is_quantized and on_gpu(lm) and lm.dtype == torch.float16
    quantised = {tuple(m.weight.shape) for m in lm.modules() if isinstance(m, Int8Linear)}
    loading_lm = (Phase.LOADING, 0)  # the event before the LM loads; the next one comes once it has
    moved = [t for t in cuda.transfers if t.phase == loading_lm and t.kind == "to device" and t.shape in quantised]
    assert moved and all(t.dtype == torch.int8 for t in moved)  # no full-precision matrix ever went over
    assert cuda.ops[torch.ops.aten._weight_int8pack_mm.default] > 0  # the int8 kernel, not a float copy per matrix
    assert len(result.tokens) == 2


def test_style_text_on_the_gpu_and_cpu_generators_refused(models, muq_ref: Path):
    with FakeCuda():
        pipe = MusicPipeline(models, "cuda", "bfloat16", decode_steps=1, style_model=muq_ref / "tiny" / "MuQ-MuLan-tiny",
                             accelerator=FakeCudaAccelerator(ROOMY))
        result = pipe.generate(MusicRequest(**SONG, seconds=1.0, style_text="warm piano", style_strength=2))
        assert on_gpu(pipe.loaded.style.model)
        prompt = pipe.loaded.prompts.build(SONG["tags"], SONG["lyrics"])
        with pytest.raises(InvalidRequest, match="generator on cpu but the model runs on cuda"):
            generate_tokens(pipe.lm, prompt, frames=2, generators=[torch.Generator().manual_seed(1)])
    assert result.audio[0].shape == (2, target_samples(len(result.tokens[0])))
