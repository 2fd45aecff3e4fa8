"""`MusicPipeline`: a `MusicRequest` in, audio out, joining the HeartMuLa LM and the HeartCodec decoder.

    request ─▶ prompt (tokenizer) ─▶ LM, all variants as one batch ─▶ codec, all variants as one batch ─▶ MusicResult
                                      └─ each codec window as soon as its codes exist ─▶ on_audio

- Models load lazily (the LM when tokens are needed, the codec when audio is), stay loaded between songs, and
  go with `unload()`.
- N variants are one LM batch (2N rows with guidance), each drawing from its own generator seeded with
  `variant_seed(seed, i)`, so variant i re-made alone with its recorded seed gives the same tokens.
- On CUDA, when free memory cannot hold the model about to run, the other one is moved to the CPU first, so
  the LM and the codec never need more than the larger of the two plus activations.
- Codec windows are decoded while the LM runs, between two frames, as soon as their codes are final
  (`song_decoder.py`), so the first audio comes long before the LM ends; on CUDA only when the codec fits
  beside the LM, otherwise after it.
- A continuation that hands in its kept part's audio (`MusicRequest.kept_audio`) gives it to `on_audio` first,
  before any new frame is made, and the codec starts after the windows lying wholly inside the kept part
  (`codec/resume.py`): they are not decoded again.
- Progress goes to a callback as `ProgressEvent`s; a `threading.Event` cancels (checked every frame and every
  codec window/step): `Cancelled` is raised within a second, scratch memory is freed, nothing is written.

Loading and placing the models lives in `loaded_models.py`, memory decisions in `memory.py`, progress events
and timings in `progress.py`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .accelerator import Accelerator
from .codec import HeartCodec, decode_windows
from .codec.config import SAMPLE_RATE
from .errors import InvalidRequest, check_cancel
from .hub import Catalogue, MusicModels
from .hub.catalogue import DEFAULT_STYLE
from .lm.generation import cache_length, generate_tokens
from .lm.heartmula import HeartMuLa
from .loaded_models import LoadedModels
from .memory import freed_on_failure, kv_cache_bytes
from .progress import TOKENS_SHARE, Phase, ProgressCallback, Reporter, timed
from .request import FRAME_RATE, MusicRequest, random_seed, variant_seed
from .result import AudioChunk, MusicResult
from .song_decoder import AudioCallback, SongDecoder, as_codes, codec_generator, kept_join, kept_start
from .style import scale_style
from .weights import parse_device, parse_dtype

log = logging.getLogger(__name__)

DECODE_STEPS = 10
"""Euler steps per codec window (the official default)."""
DECODE_GUIDANCE = 1.25
"""Codec classifier-free guidance (the official default)."""


class MusicPipeline:
    """Makes songs from requests with one LM, one tokenizer and one codec.

    Args:
        models: the resolved folders (`Catalogue.music_models()`, or any folders in the official layout).
        device: where the models run ("cpu", "cuda", "cuda:1", ...).
        dtype: the LM's dtype and the codec estimator's ("float32" on CPU, "bfloat16" on a GPU).
        decode_steps, decode_guidance: codec settings (official defaults).
        style_model: MuQ-MuLan folder or catalogue name, loaded only when a request has a style source.
        catalogue: resolves `style_model` (and its companions) when it is a name; None = a default one.
        style_cache_dir: optional folder for an on-disk cache of reference embeddings.
        style_max_seconds: longest reference recording accepted.
        int8: load the LM with int8 weights (`lm/quantize.py`: about half the memory of bfloat16).
        compiled: compile the LM's frame step (`generation.FrameSteps`): slower first song, faster later ones.
        cuda_graph: replay the LM's later frames from a CUDA graph (a CUDA device only; `lm/graphs.py`): on a GPU
            the eager frame is bound by the host's kernel launches.
        decode_during_tokens: decode each codec window while the LM runs, as soon as its codes are final
            (when the codec fits beside the LM); False decodes every window after the LM.
        codec_tf32: let the codec's float32 matmuls and convolutions run in TF32 on a CUDA GPU (faster, about
            1e-3 relative error); False (the default) keeps them float32, as on the CPU. For a codec this
            pipeline loads (one handed to `from_loaded` keeps its own `tf32`).
        accelerator: answers the device questions (free memory, seeded generators); None asks torch.
    """

    def __init__(
        self,
        models: MusicModels | None,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        *,
        decode_steps: int = DECODE_STEPS,
        decode_guidance: float = DECODE_GUIDANCE,
        style_model: str | Path = DEFAULT_STYLE,
        catalogue: Catalogue | None = None,
        style_cache_dir: str | Path | None = None,
        style_max_seconds: float | None = None,
        int8: bool = False,
        compiled: bool = False,
        cuda_graph: bool = False,
        decode_during_tokens: bool = True,
        codec_tf32: bool = False,
        accelerator: Accelerator | None = None,
    ) -> None:
        if decode_steps < 1:
            raise InvalidRequest(f"decode steps must be at least 1, got {decode_steps}")
        # A handed-in accelerator answers for its own devices (the placement test runs the CUDA path on a
        # stand-in); otherwise a device this torch cannot use is refused here, not deep inside a model load.
        self.device = torch.device(device) if accelerator is not None else parse_device(device)
        self.dtype = parse_dtype(dtype)
        if cuda_graph and self.device.type != "cuda":
            raise InvalidRequest(f"CUDA graphs need a CUDA device, not {self.device}")
        self.decode_steps = decode_steps
        self.decode_guidance = decode_guidance
        self.compiled = compiled
        self.cuda_graph = cuda_graph
        self.decode_during_tokens = decode_during_tokens
        self.accelerator = accelerator or Accelerator()
        self.loaded = LoadedModels(
            models, self.device, self.dtype, self.accelerator, int8=int8, codec_tf32=codec_tf32,
            style_model=style_model, catalogue=catalogue, style_cache_dir=style_cache_dir,
            style_max_seconds=style_max_seconds,
        )
        self._lock = threading.Lock()  # one generation at a time: the models hold per-batch caches

    @classmethod
    def from_loaded(cls, lm: HeartMuLa, codec: HeartCodec, gen: Path, **kwargs) -> MusicPipeline:
        """A pipeline around models already in memory (benchmarks with random weights, or a caller sharing
        them). It has no folders to load from, so after `unload()` it cannot generate again."""
        param = next(lm.parameters())
        pipe = cls(None, device=param.device, dtype=param.dtype, **kwargs)
        pipe.loaded.hand_in(lm, codec, gen)
        return pipe

    # ---- loading -------------------------------------------------------------------------------------

    @property
    def models(self) -> MusicModels | None:
        """The folders the models load from (None for a pipeline built from loaded models)."""
        return self.loaded.folders

    @property
    def lm(self) -> HeartMuLa | None:
        """The loaded HeartMuLa, or None."""
        return self.loaded.lm

    @property
    def codec(self) -> HeartCodec | None:
        """The loaded HeartCodec, or None."""
        return self.loaded.codec

    @property
    def style_model(self) -> str | Path:
        """The MuQ-MuLan folder or catalogue name a style source loads."""
        return self.loaded.style_model

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def load(self) -> None:
        """Load both models now (otherwise each loads when first needed)."""
        self.loaded.need_lm()
        self.loaded.need_codec()

    def unload(self) -> None:
        """Drop the models (and the style encoder with its cache) and give their memory back."""
        self.loaded.unload()

    def style_vector(self, request: MusicRequest) -> torch.Tensor | None:
        """The [512] vector for the LM's style slot, or None for the official zero vector.

        Strength 0 (or no style source) never loads MuQ-MuLan. A reference recording or text is embedded
        (cached by content) and scaled by the strength; a ready vector is scaled too.
        """
        if not request.has_style:
            return None
        if request.style is not None:
            vector = torch.from_numpy(request.style)
        elif request.style_text is not None:
            vector = self.loaded.need_style().embed_text(request.style_text)
        else:
            vector = self.loaded.need_style().embed_audio(request.style_audio, request.style_audio_rate)
        return scale_style(vector, request.style_strength)

    # ---- generating ----------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(
        self,
        request: MusicRequest,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_audio: AudioCallback | None = None,
    ) -> MusicResult:
        """Make `request.variants` songs.

        Args:
            request: what to make (validated on construction).
            progress: receives a `ProgressEvent` per model loaded, per frame and per codec window.
            cancel: when set, the work stops within a second and `Cancelled` is raised; nothing is returned.
            on_audio: receives each variant's audio as it is decoded, one `AudioChunk` per codec window
                (float32 [2, n], read-only), `final=True` on a variant's last one. A variant's chunks arrive
                in order and concatenate exactly to its `MusicResult.audio`; chunks of different variants may
                interleave. After a cancel no more chunks come, and what came must be thrown away.

        Returns:
            MusicResult: per variant, audio float32 [2, samples] at 48 kHz and tokens int64 [frames, 8]; the
            seeds that re-make each variant alone; seconds per phase.

        Raises:
            InvalidRequest: the request does not fit the model (e.g. longer than the context allows).
            ModelNotAvailable / CheckpointMismatch: a model folder is missing or broken.
            Cancelled: `cancel` was set.
        """
        seed = request.seed if request.seed is not None else random_seed()
        request = replace(request, seed=seed)
        seeds = [variant_seed(seed, i) for i in range(request.variants)]
        # A continuation decodes every variant with the parent's seed, so the kept windows come out as before.
        decode_seeds = seeds if request.decode_seed is None else [request.decode_seed] * request.variants
        report = Reporter(progress)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        known = kept_start(request)
        with self._lock, freed_on_failure(self.device):
            if known is not None and on_audio is not None:  # known already: heard before anything is made
                for variant in range(request.variants):
                    on_audio(AudioChunk(variant, known, final=False))
            with timed(timings, "style"):
                # First, so a reference that cannot be read fails before any generation starts.
                style = self.style_vector(request)
            check_cancel(cancel, "generation")
            with timed(timings, "loading"):
                report(Phase.LOADING, 0, 2, 0.0)
                lm = self.loaded.need_lm()
                report(Phase.LOADING, 1, 2, 0.0)
            check_cancel(cancel, "generation")
            with timed(timings, "prompt"):
                prompt = self.loaded.prompts.build(request.tags, request.lyrics)
                report(Phase.PROMPT, 1, 1, 0.0)
            with timed(timings, "loading"):
                early = self._codec_beside_lm(lm, prompt.length, request)
                if early:
                    self.loaded.need_codec()
            with timed(timings, "decoding"):
                songs = self._song_decoder(decode_seeds, cancel, on_audio, request, known) if early else None
            with timed(timings, "tokens"):
                report.begin(Phase.TOKENS)
                on_frame = songs.on_frame if songs is not None else None
                tokens = self._tokens(lm, prompt, request, seeds, report, cancel, style, on_frame)
            check_cancel(cancel, "generation")
            with timed(timings, "loading"):
                self.loaded.need_codec()
                report(Phase.LOADING, 2, 2, TOKENS_SHARE)
            with timed(timings, "decoding"):
                report.begin(Phase.DECODING)
                songs = songs or self._song_decoder(decode_seeds, cancel, on_audio, request, known)
                audio = songs.finish(tokens, report.decoding())
            # Windows decoded between LM frames are decoding time, not token time.
            timings["tokens"] -= songs.early_seconds
            timings["decoding"] += songs.early_seconds
            check_cancel(cancel, "generation")  # a cancel from the last chunk's callback still means no result
        timings["total"] = time.perf_counter() - start
        report(Phase.DONE, 1, 1, 1.0)
        return MusicResult(audio, tokens, seeds, self.sample_rate, timings, request, decode_seeds, songs.codec_tails)

    def _codec_beside_lm(self, lm, prompt_length: int, request: MusicRequest) -> bool:
        """Whether windows can be decoded while the LM runs: always on the CPU; on a GPU only when the codec is
        there already or fits beside the LM and the KV caches this request needs. Otherwise the codec loads
        after the LM, which may have to leave the GPU for it."""
        if not self.decode_during_tokens:
            return False
        backbone = lm.config.backbone
        rows = request.variants * (2 if request.cfg != 1.0 else 1)  # guidance doubles the rows
        slots = cache_length(prompt_length + request.kept, request.frames, backbone.max_seq_len)
        return self.loaded.codec_fits_beside_lm(kv_cache_bytes(backbone, rows, slots, self.dtype))

    def _song_decoder(
        self, seeds: list[int], cancel, on_audio: AudioCallback | None = None,
        request: MusicRequest | None = None, known: np.ndarray | None = None,
    ) -> SongDecoder:
        join = None if known is None else kept_join(self.loaded.codec, request, steps=self.decode_steps,
                                                    guidance=self.decode_guidance, cancel=cancel)
        return SongDecoder(self.loaded.codec, seeds, steps=self.decode_steps, guidance=self.decode_guidance,
                           cancel=cancel, on_audio=on_audio, join=join, known=known)

    def _tokens(
        self, lm, prompt, request: MusicRequest, seeds: list[int], report, cancel, style: torch.Tensor | None,
        on_frame=None,
    ) -> list[np.ndarray]:
        context = lm.config.backbone.max_seq_len
        if prompt.length + request.kept + request.frames > context:
            most = int(max(0, context - prompt.length) / FRAME_RATE)  # whole seconds that surely fit
            raise InvalidRequest(
                f"{request.seconds:g} s does not fit the model's context with these lyrics: at most {most} s "
                "in all, kept part included (shorten the song or the lyrics)"
            )
        prefix = None if request.prefix is None else torch.from_numpy(request.kept_codes.copy())
        generators = [self.accelerator.generator(lm.device, s) for s in seeds]
        try:
            out = generate_tokens(
                lm, prompt, frames=request.frames, cfg_scale=request.cfg, topk=request.topk,
                temperature=request.temperature, generators=generators, style=style,
                progress=report.tokens(), cancel=cancel, compiled=self.compiled, on_frame=on_frame, prefix=prefix,
                cuda_graph=self.cuda_graph,
            )
        finally:
            # The KV caches span the song for every row (GBs for the 3B model with 8 variants): give them
            # back now, so the codec has the room and an idle pipeline holds only weights.
            lm.clear_caches()
        return [out.variant(i).cpu().numpy().astype(np.int64) for i in range(len(seeds))]

    # ---- decoding saved tokens -----------------------------------------------------------------------

    def decode(self, tokens: np.ndarray | torch.Tensor, seed: int, *, progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None) -> np.ndarray:
        """Audio float32 [2, samples] for saved tokens [frames, 8] (what `generate` returned, same seed -> same audio)."""
        return self.decode_take(tokens, seed, progress=progress, cancel=cancel)[0]

    @torch.inference_mode()
    def decode_take(self, tokens: np.ndarray | torch.Tensor, seed: int, *, progress: ProgressCallback | None = None,
                    cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`decode`, with what a continuation of that audio reuses: (audio float32 [2, samples], codec tails
        float32 [windows, 168, 256] as `MusicResult.codec_tails`), so a take made again keeps both in step."""
        report = Reporter(progress)
        with self._lock, freed_on_failure(self.device):
            self.loaded.need_codec()
            report.begin(Phase.DECODING)
            songs = self._song_decoder([seed], cancel)
            (audio,) = songs.finish([tokens], report.decoding(base=0.0))
        report(Phase.DONE, 1, 1, 1.0)
        return audio, songs.codec_tails[0]

    def decode_stream(
        self,
        tokens: np.ndarray | torch.Tensor,
        seed: int,
        *,
        cancel: threading.Event | None = None,
    ) -> Iterator[np.ndarray]:
        """Like `decode`, but yields float32 [2, n] chunks as soon as each is final (they concatenate to it).

        The pipeline is busy until the iterator is exhausted or closed.
        """
        with self._lock, freed_on_failure(self.device):
            codec = self.loaded.need_codec()
            # The codec's stream enters inference mode around each step itself; wrapping this generator in
            # it would leak the mode into the caller's code between chunks.
            windows = decode_windows(
                codec, [as_codes(tokens)], generators=[codec_generator(seed)], steps=self.decode_steps,
                guidance=self.decode_guidance, cancel=cancel,
            )
            for window in windows:
                yield window.audio.numpy()

