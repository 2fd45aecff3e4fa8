"""The pipeline's models in memory: the HeartMuLa LM with its prompt builder, the HeartCodec, and the MuQ-MuLan
style encoder, each loaded from its folder when first needed, kept between songs, and dropped on `unload()`.

On CUDA the LM and the codec take turns when the GPU cannot hold both: before one loads (or comes back from the
CPU) the other is moved to the CPU if free memory is short (`memory.make_room`), so a song never needs more than
the larger model plus activations. `MusicPipeline` asks for a model right before it runs it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .accelerator import Accelerator
from .codec import HeartCodec, load_heartcodec
from .codec.checkpoint import loaded_bytes
from .errors import ModelNotAvailable
from .hub import Catalogue, MusicModels
from .hub.catalogue import DEFAULT_STYLE
from .lm.heartmula import HeartMuLa, load_heartmula
from .lm.prompting import PromptBuilder
from .memory import fits_now, free_memory, make_room, module_bytes, on_cpu_but_wanted_on, weights_bytes
from .style import StyleEncoder
from .style.encoder import DEFAULT_MAX_SECONDS

log = logging.getLogger(__name__)


class LoadedModels:
    """Loads, places and drops one LM (with its prompt builder), one codec and one style encoder.

    Args:
        folders: the resolved model folders, or None for models handed in already loaded (`hand_in`).
        device, dtype: where and in what the LM and the codec run (the style encoder is always float32).
        int8: load the LM with int8 weights (`lm/quantize.py`).
        codec_tf32: let a codec loaded here run its float32 matmuls in TF32 on a CUDA GPU.
        style_model: MuQ-MuLan folder or catalogue name; `catalogue` resolves a name (None = a default one).
        style_cache_dir: optional folder for an on-disk cache of reference embeddings.
        style_max_seconds: longest reference recording accepted (None = the encoder's default).
        accelerator: answers how much device memory is free.
    """

    def __init__(
        self,
        folders: MusicModels | None,
        device: torch.device,
        dtype: torch.dtype,
        accelerator: Accelerator,
        *,
        int8: bool = False,
        codec_tf32: bool = False,
        style_model: str | Path = DEFAULT_STYLE,
        catalogue: Catalogue | None = None,
        style_cache_dir: str | Path | None = None,
        style_max_seconds: float | None = None,
    ) -> None:
        self.folders = folders
        self.device = device
        self.dtype = dtype
        self.accelerator = accelerator
        self.int8 = int8
        self.codec_tf32 = codec_tf32
        self.style_model = style_model
        self.catalogue = catalogue
        self.style_cache_dir = style_cache_dir
        self.style_max_seconds = style_max_seconds
        self.lm: HeartMuLa | None = None
        self.prompts: PromptBuilder | None = None
        self.codec: HeartCodec | None = None
        self.style: StyleEncoder | None = None

    def hand_in(self, lm: HeartMuLa, codec: HeartCodec, gen: Path) -> None:
        """Use models already in memory (and the prompt files in `gen`) instead of loading them."""
        self.lm, self.codec = lm, codec
        self.prompts = PromptBuilder.from_folder(gen, lm.num_codebooks)

    def unload(self) -> None:
        """Drop every model (the style encoder with its cache too) and give their memory back."""
        self.lm = self.prompts = self.codec = self.style = None
        free_memory(self.device)

    def need_lm(self) -> HeartMuLa:
        """The LM on the device, loaded (with its prompt builder) or brought back from the CPU if need be."""
        if self.lm is None:
            folders = self._folders()
            make_room(self.device, weights_bytes(folders.lm, self.dtype), self.codec, self.accelerator)
            log.info("loading the LM from %s", folders.lm)
            self.lm = load_heartmula(folders.lm, dtype=self.dtype, device=self.device, int8=self.int8)
            self.prompts = PromptBuilder.from_folder(folders.gen, self.lm.num_codebooks)
        elif on_cpu_but_wanted_on(self.device, self.lm):
            make_room(self.device, module_bytes(self.lm), self.codec, self.accelerator)
            self.lm.to(self.device)
        return self.lm

    def need_codec(self) -> HeartCodec:
        """The codec on the device, loaded or brought back from the CPU if need be."""
        if self.codec is None:
            folders = self._folders()
            make_room(self.device, loaded_bytes(folders.codec, self.dtype), self.lm, self.accelerator)
            log.info("loading the codec from %s", folders.codec)
            self.codec = load_heartcodec(folders.codec, dtype=self.dtype, device=self.device, tf32=self.codec_tf32)
        elif on_cpu_but_wanted_on(self.device, self.codec):
            make_room(self.device, module_bytes(self.codec), self.lm, self.accelerator)
            self.codec.to(self.device)
        return self.codec

    def need_style(self) -> StyleEncoder:
        """The MuQ-MuLan style encoder, loaded the first time."""
        if self.style is None:
            log.info("loading the MuQ-MuLan style encoder (%s)", self.style_model)
            # float32 whatever the LM dtype: the official encoder runs in float32 and it is small.
            self.style = StyleEncoder.load(
                self.style_model, "float32", self.device, catalogue=self.catalogue,
                max_seconds=self.style_max_seconds or DEFAULT_MAX_SECONDS, cache_dir=self.style_cache_dir,
            )
        return self.style

    def codec_fits_beside_lm(self, scratch_bytes: int) -> bool:
        """Whether the codec can run beside the LM now: always on the CPU; on a GPU when the codec is there
        already, or when it and `scratch_bytes` (the LM's KV caches for this song) fit in free memory."""
        if self.device.type == "cpu" or (self.codec is not None and not on_cpu_but_wanted_on(self.device, self.codec)):
            return True
        codec = module_bytes(self.codec) if self.codec is not None else loaded_bytes(self._folders().codec, self.dtype)
        return fits_now(self.device, codec + scratch_bytes, self.accelerator)

    def _folders(self) -> MusicModels:
        if self.folders is None:
            raise ModelNotAvailable("this pipeline was built from loaded models, which were unloaded")
        return self.folders
