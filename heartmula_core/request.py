"""The values that go in and out of `MusicPipeline`: a validated request, progress events, the result.

Kept apart from the pipeline so callers (the web app, the CLI, tests) can build and check a request without
importing torch models. Everything here is plain data; `MusicPipeline` (pipeline.py) does the work.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from .lm.config import CODEC_CODEBOOK_SIZE
from .lm.config import FRAME_RATE_HZ as FRAME_RATE
from .errors import InvalidRequest

STYLE_DIM = 512  # MuQ-MuLan latent width; the LM reads it through muq_linear (HeartMuLaConfig.muq_dim)
MAX_STYLE_STRENGTH = 10.0  # 0 = the official zero vector, 1 = the style embedding as computed
MAX_VARIANTS = 8
MAX_SEED = 2**63 - 1
AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3")
DEFAULT_SECONDS = 120.0
DEFAULT_CFG = 1.5
DEFAULT_TOPK = 50
DEFAULT_TEMPERATURE = 1.0


def frames_for(seconds: float) -> int:
    """LM frames for `seconds` of audio: the fewest that cover it (at least one)."""
    return max(1, math.ceil(seconds * FRAME_RATE - 1e-9))


def variant_seed(seed: int, index: int) -> int:
    """The seed of variant `index` of a request seeded with `seed`.

    Variant 0 keeps the request seed itself, so any variant re-made alone (variants=1, seed=its recorded seed)
    gives the same song; the others are a hash of (seed, index), far apart from each other and from seed + 1.
    """
    if index == 0:
        return seed
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & MAX_SEED


def random_seed() -> int:
    """A fresh seed for a request that did not name one (small enough to read aloud and type back)."""
    return secrets.randbelow(2**31)


@dataclass(frozen=True, eq=False)
class MusicRequest:
    """One song to make, checked on construction (InvalidRequest on any bad value).

    Attributes:
        tags: comma-separated style tags ("pop,piano,happy"); used as given (tag clean-up is the songwriter's).
        lyrics: the lyrics, with section markers ("[verse]") on their own lines.
        seconds: requested length; the song may end earlier if the model ends it. At most what the LM's
            context leaves after the prompt (checked by the pipeline, which knows the model).
        variants: how many versions (1..8), made as one batch.
        seed: request seed (None: a random one, recorded in the result). Variant i uses `variant_seed(seed, i)`.
        cfg: classifier-free guidance scale (1.0 = no guidance, half the compute).
        topk: sample among the k most likely codes.
        temperature: sampling temperature.
        style: optional style vector, [512] floats (e.g. from the MuQ-MuLan encoder); None = no style.
        style_audio: optional reference recording for the style: a file path, or an array [samples] or
            [channels, samples] at `style_audio_rate` Hz. Embedded with MuQ-MuLan by the pipeline.
        style_audio_rate: the sample rate of a `style_audio` array.
        style_text: optional sentence describing the style, embedded with MuQ-MuLan by the pipeline.
            At most one of `style`, `style_audio` and `style_text` may be given.
        style_strength: 0 to 10; 0 = the official zero vector (no style), 1 = the style as computed, more
            scales it up. Only the conditional branch of guidance sees the style.
        format: the audio format the caller means to write ("wav", "flac", "ogg", "mp3").
    """

    tags: str = ""
    lyrics: str = ""
    seconds: float = DEFAULT_SECONDS
    variants: int = 1
    seed: int | None = None
    cfg: float = DEFAULT_CFG
    topk: int = DEFAULT_TOPK
    temperature: float = DEFAULT_TEMPERATURE
    style: Any = None
    format: str = "wav"
    style_audio: Any = None
    style_audio_rate: int | None = None
    style_text: str | None = None
    style_strength: float = 1.0

    def __post_init__(self) -> None:
        def bad(message: str) -> InvalidRequest:
            return InvalidRequest(message)

        if not isinstance(self.tags, str) or not isinstance(self.lyrics, str):
            raise bad("tags and lyrics must be text")
        if not self.tags.strip():
            raise bad("tags are empty: give at least one tag, e.g. 'pop,piano'")
        if not self.lyrics.strip():
            raise bad("lyrics are empty")
        seconds = _number(self.seconds, "seconds")
        if not seconds > 0:
            raise bad(f"seconds must be positive, got {self.seconds}")
        variants = _integer(self.variants, "variants")
        if not 1 <= variants <= MAX_VARIANTS:
            raise bad(f"variants must be 1 to {MAX_VARIANTS}, got {variants}")
        if self.seed is not None:
            seed = _integer(self.seed, "seed")
            if not 0 <= seed <= MAX_SEED:
                raise bad(f"seed must be 0 to {MAX_SEED}, got {seed}")
            object.__setattr__(self, "seed", seed)
        cfg = _number(self.cfg, "cfg")
        if not 1.0 <= cfg <= 20.0:
            raise bad(f"cfg must be 1.0 (no guidance) to 20, got {self.cfg}")
        topk = _integer(self.topk, "topk")
        if not 1 <= topk <= CODEC_CODEBOOK_SIZE:
            raise bad(f"topk must be 1 to {CODEC_CODEBOOK_SIZE}, got {topk}")
        temperature = _number(self.temperature, "temperature")
        if not 0 < temperature <= 10:
            raise bad(f"temperature must be above 0 and at most 10, got {self.temperature}")
        fmt = str(self.format).lower().lstrip(".")
        if fmt not in AUDIO_FORMATS:
            raise bad(f"format must be one of {', '.join(AUDIO_FORMATS)}, got '{self.format}'")
        for name, value in (("seconds", seconds), ("variants", variants), ("cfg", cfg), ("topk", topk),
                            ("temperature", temperature), ("format", fmt), ("style", _style(self.style))):
            object.__setattr__(self, name, value)
        self._check_style_source()

    def _check_style_source(self) -> None:
        sources = [n for n in ("style", "style_audio", "style_text") if getattr(self, n) is not None]
        if len(sources) > 1:
            raise InvalidRequest(f"give one style source, not {' and '.join(sources)}")
        object.__setattr__(self, "style_strength", style_strength(self.style_strength))
        if self.style_text is not None and (not isinstance(self.style_text, str) or not self.style_text.strip()):
            raise InvalidRequest("style text is empty")
        audio, rate = self.style_audio, self.style_audio_rate
        if isinstance(audio, (str, os.PathLike)):
            if rate is not None:
                raise InvalidRequest("style_audio_rate is only for arrays; a file carries its own rate")
            if not Path(audio).is_file():
                raise InvalidRequest(f"style audio {audio}: no such file")
            object.__setattr__(self, "style_audio", Path(audio))
        elif audio is not None:
            if rate is None or _integer(rate, "style_audio_rate") <= 0:
                raise InvalidRequest("a style audio array needs its sample rate (style_audio_rate)")
        elif rate is not None:
            raise InvalidRequest("style_audio_rate without style_audio")

    @property
    def has_style(self) -> bool:
        """True when a style source is given and its strength is not 0 (else the LM gets the zero vector)."""
        given = self.style is not None or self.style_audio is not None or self.style_text is not None
        return given and self.style_strength > 0

    @property
    def frames(self) -> int:
        """LM frames asked for."""
        return frames_for(self.seconds)


def style_strength(value: Any) -> float:
    """A style strength as a float in [0, MAX_STYLE_STRENGTH]; InvalidRequest otherwise."""
    strength = _number(value, "style strength")
    if not 0 <= strength <= MAX_STYLE_STRENGTH:
        raise InvalidRequest(f"style strength must be between 0 and {MAX_STYLE_STRENGTH:g}, got {value!r}")
    return strength


def _number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise InvalidRequest(f"{name} must be a finite number, got {value!r}")
    return number


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InvalidRequest(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _style(value: Any) -> np.ndarray | None:
    """A [512] float32 array (from a tensor, an array or a list), or None."""
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor; imported lazily so requests stay torch-free
        value = value.detach().float().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidRequest("style must be a vector of numbers") from None
    if array.shape != (STYLE_DIM,):
        raise InvalidRequest(f"style must be a vector of {STYLE_DIM} numbers, got shape {list(array.shape)}")
    if not np.isfinite(array).all():
        raise InvalidRequest("style has non-finite values")
    return array


class Phase(str, Enum):
    """Where a generation is."""

    LOADING = "loading"
    PROMPT = "prompt"
    TOKENS = "tokens"
    DECODING = "decoding"
    DONE = "done"


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives.

    Attributes:
        phase: the current phase.
        done, total: units of this phase done so far (frames for TOKENS, codec windows over all variants
            for DECODING, models for LOADING, 1 for PROMPT and DONE).
        eta: seconds left in this phase at the current rate (None until a rate is known).
        overall: the whole job's fraction done, 0..1 (tokens count for most of it; 1.0 only at DONE).
    """

    phase: Phase
    done: int
    total: int
    eta: float | None
    overall: float


@dataclass(frozen=True, eq=False)
class AudioChunk:
    """A piece of one variant's audio, handed to `generate(on_audio=...)` as soon as it is final.

    Attributes:
        variant: which variant (0-based) the samples belong to.
        samples: float32 [2, n] at 48 kHz, read-only. One codec window's worth; a variant's chunks, in the
            order they arrive, concatenate exactly to its `MusicResult.audio[variant]`.
        final: True on the variant's last chunk.
    """

    variant: int
    samples: np.ndarray
    final: bool


@dataclass
class MusicResult:
    """What `MusicPipeline.generate` returns; writing files is the caller's choice.

    Attributes:
        audio: per variant, float32 [2, samples] at `sample_rate`.
        tokens: per variant, int64 [frames, 8] (frame-major), what `MusicPipeline.decode` takes back.
        seeds: per variant, the seed that re-makes it alone (`MusicRequest(..., variants=1, seed=seeds[i])`).
        sample_rate: 48000.
        timings: seconds spent per phase ("loading", "prompt", "tokens", "decoding", "total").
        request: the request, with its seed filled in.
    """

    audio: list[np.ndarray]
    tokens: list[np.ndarray]
    seeds: list[int]
    sample_rate: int
    timings: dict[str, float] = field(default_factory=dict)
    request: MusicRequest | None = None

    @property
    def seconds(self) -> list[float]:
        """Length of each variant's audio in seconds."""
        return [a.shape[-1] / self.sample_rate for a in self.audio]
