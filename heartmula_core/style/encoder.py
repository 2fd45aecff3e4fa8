"""`StyleEncoder`: reference audio or a sentence -> the 512-d MuQ-MuLan style vector, with a cache.

A reference is identified by the hash of its content (file bytes, or array bytes and rate), so the same
demo uploaded twice costs nothing: embeddings are kept in memory per encoder and, when the caller gives a
folder, in a small on-disk cache keyed by the model's fingerprint too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import audio as audio_io
from ..errors import InvalidRequest
from ..hub import Catalogue
from ..request import MAX_STYLE_STRENGTH, style_strength
from .clips import cut_clips
from .loading import LoadedMulan, load_mulan

log = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 600.0  # a reference longer than 10 minutes is almost certainly a mistake
DEFAULT_CLIP_BATCH = 4
MAX_STRENGTH = MAX_STYLE_STRENGTH
_HASH_CHUNK = 1 << 20

AudioSource = str | os.PathLike[str] | np.ndarray | torch.Tensor


def scale_style(embedding: torch.Tensor, strength: float) -> torch.Tensor:
    """The style vector the LM receives: 0 -> the official all-zero vector, 1 -> as computed, more -> scaled.

    Raises InvalidRequest when `strength` is not a number in [0, MAX_STRENGTH].
    """
    strength = style_strength(strength)
    if strength == 0:
        return torch.zeros_like(embedding)
    return embedding * float(strength)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def array_digest(samples: np.ndarray, sample_rate: int) -> str:
    digest = hashlib.sha256(f"{samples.shape}:{sample_rate};".encode())
    digest.update(np.ascontiguousarray(samples, dtype=np.float32).tobytes())
    return digest.hexdigest()


class StyleEncoder:
    """A loaded MuQ-MuLan model plus an embedding cache.

    Args:
        mulan: what `load_mulan` returns.
        max_seconds: longest reference accepted (InvalidRequest beyond it).
        clip_batch: 10 s clips embedded per forward pass (1 = one at a time, as the official default;
            results agree to rounding).
        cache_dir: optional folder for an on-disk embedding cache (created when needed).
    """

    def __init__(
        self,
        mulan: LoadedMulan,
        *,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        clip_batch: int = DEFAULT_CLIP_BATCH,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if clip_batch < 1:
            raise ValueError("clip_batch must be at least 1")
        self.model = mulan.model
        self.tokenizer = mulan.tokenizer
        self.fingerprint = mulan.fingerprint
        self.max_seconds = max_seconds
        self.clip_batch = clip_batch
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: dict[str, torch.Tensor] = {}

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike[str],
        dtype: str | torch.dtype = "float32",
        device: str = "cpu",
        *,
        catalogue: Catalogue | None = None,
        **kwargs: Any,
    ) -> StyleEncoder:
        """`load_mulan(folder, dtype, device, catalogue)` wrapped in an encoder; kwargs go to the constructor."""
        return cls(load_mulan(folder, dtype, device, catalogue), **kwargs)

    @property
    def sample_rate(self) -> int:
        return self.model.cfg.sample_rate

    @property
    def dim(self) -> int:
        """Size of a style vector (512 for MuQ-MuLan-large)."""
        return self.model.cfg.dim_latent

    # ------------------------------------------------------------------------------------------ audio

    def embed_audio(self, source: AudioSource, sample_rate: int | None = None) -> torch.Tensor:
        """Embed a reference recording.

        Args:
            source: an audio file path (any length, rate and channel count `audio.py` reads), or an array
                / tensor `[samples]` or `[channels, samples]` with its `sample_rate`.
            sample_rate: the array's rate in Hz; required for arrays, not allowed for files.
        Returns:
            float32 CPU tensor [dim]: the mean of the unit clip latents (not re-normalised).
        Raises:
            InvalidRequest: unreadable, empty, too short or too long audio, or a missing sample rate.
        """
        if isinstance(source, (str, os.PathLike)):
            if sample_rate is not None:
                raise InvalidRequest("sample_rate is only for arrays; a file carries its own")
            path = Path(source)
            if not path.is_file():
                raise InvalidRequest(f"{path}: no such audio file")
            key = f"file:{file_digest(path)}"
            return self._cached(key, lambda: self._decode_file(path))
        if sample_rate is None or sample_rate <= 0:
            raise InvalidRequest("an audio array needs its sample_rate")
        samples = source.detach().cpu().numpy() if isinstance(source, torch.Tensor) else np.asarray(source)
        if samples.dtype.kind not in "fiu" or not np.isfinite(samples).all():
            raise InvalidRequest("reference audio must hold finite numbers")
        key = f"array:{array_digest(samples, sample_rate)}"
        return self._cached(key, lambda: self._prepare_array(samples, sample_rate))

    def _decode_file(self, path: Path) -> torch.Tensor:
        wave = audio_io.load_for_model(path, self.sample_rate, mono=True, max_seconds=self.max_seconds)
        return torch.from_numpy(wave)

    def _prepare_array(self, samples: np.ndarray, sample_rate: int) -> torch.Tensor:
        seconds = samples.shape[-1] / sample_rate
        if seconds > self.max_seconds:
            raise InvalidRequest(f"reference audio is {seconds:.1f} s, longer than the {self.max_seconds:g} s limit")
        mono = audio_io.to_mono(samples.astype(np.float32, copy=False))
        return torch.from_numpy(audio_io.resample(mono, sample_rate, self.sample_rate))

    @torch.inference_mode()
    def embed_waveform(self, wave: torch.Tensor) -> torch.Tensor:
        """A mono waveform (T,) at `sample_rate` -> float32 CPU [dim], no cache, no duration cap."""
        clips = cut_clips(wave.float(), self.model.cfg.clip_samples)
        latents = [
            self.model.clip_latents(torch.stack(clips[i : i + self.clip_batch]))
            for i in range(0, len(clips), self.clip_batch)
        ]
        return torch.cat(latents).mean(dim=0).cpu()

    # ------------------------------------------------------------------------------------------- text

    @torch.inference_mode()
    def embed_text(self, text: str | Sequence[str]) -> torch.Tensor:
        """Embed a style description.

        A single string is embedded alone (the canonical value) -> float32 CPU [dim]. A list is embedded as
        one padded batch exactly as the official package does -> [N, dim]; note that padding moves the
        shorter texts' embeddings, so embed texts one by one when each must be canonical.
        """
        if isinstance(text, str):
            key = f"text:{text}"
            if key not in self._memory:
                self._memory[key] = self._embed_texts([text])[0]
            return self._memory[key]
        texts = list(text)
        if not texts:
            raise InvalidRequest("no style text given")
        return self._embed_texts(texts)

    def _embed_texts(self, texts: list[str]) -> torch.Tensor:
        ids, mask = self.tokenizer(texts)
        return self.model.text_latents(ids, mask).cpu()

    # ------------------------------------------------------------------------------------------ cache

    def _cached(self, key: str, decode: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key in self._memory:
            return self._memory[key]
        embedding = self._read_disk(key)
        if embedding is None:
            wave = decode()
            embedding = self.embed_waveform(wave)
            self._write_disk(key, embedding, wave.shape[0] / self.sample_rate)
        self._memory[key] = embedding
        return embedding

    def _disk_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        kind, digest = key.split(":", 1)
        return self.cache_dir / f"{self.fingerprint}-{kind}-{digest[:40]}.npz"

    def _read_disk(self, key: str) -> torch.Tensor | None:
        path = self._disk_path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path) as data:
                seconds, embedding = float(data["seconds"]), data["embedding"]
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable style cache entry %s: %s", path, exc)
            return None
        if seconds > self.max_seconds:  # cached by an encoder with a looser cap
            raise InvalidRequest(f"reference audio is {seconds:.1f} s, longer than the {self.max_seconds:g} s limit")
        if embedding.shape != (self.dim,):
            return None
        log.info("style embedding from cache %s", path)
        return torch.from_numpy(embedding.astype(np.float32))

    def _write_disk(self, key: str, embedding: torch.Tensor, seconds: float) -> None:
        path = self._disk_path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.npz")
            np.savez(tmp, embedding=embedding.numpy(), seconds=np.float64(seconds))
            os.replace(tmp, path)
        except OSError as exc:  # a cache that cannot be written only costs time, never the result
            log.warning("could not write the style cache %s: %s", path, exc)
