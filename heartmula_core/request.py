"""The values that go in and out of `MusicPipeline`: a validated request, progress events, the result.

Kept apart from the pipeline so callers (the web app, the CLI, tests) can build and check a request without
importing torch models. Everything here is plain data; `MusicPipeline` (pipeline.py) does the work.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidRequest
from .kept_part import kept_audio_array, kept_latents_array
from .lm.config import CODEC_CODEBOOK_SIZE
from .lm.config import FRAME_RATE_HZ as FRAME_RATE

STYLE_DIM = 512  # MuQ-MuLan latent width; the LM reads it through muq_linear (HeartMuLaConfig.muq_dim)
MAX_STYLE_STRENGTH = 10.0  # 0 = the official zero vector, 1 = the style embedding as computed
MAX_VARIANTS = 8
# The shortest reference recording taken for a style: far more than the few hundred samples the style model needs
# to embed at all, far less than anything musical. Checked from the file, before anything loads.
MIN_REFERENCE_SECONDS = 0.1
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
        prefix: optional kept frames to continue, int64 [P, 8] (a kept take's tokens, a file's, the codec
            encoder's), every code one the codec can decode. The song then starts with them: `seconds` is the
            whole song's length, kept part included, and every variant continues the same frames.
        cut: keep only the prefix's first `cut` frames (`cut_at(seconds)` turns a time into frames); None
            keeps all of it (an extension).
        decode_seed: the codec seed of every variant, instead of its own: with the parent take's seed, the
            kept part sounds exactly as before up to the last codec window that lies wholly inside it.
        kept_audio: optional, the parent take's audio float32 [2, samples] as decoded with `decode_seed` (at
            least its windows wholly inside the kept part): those windows are not decoded again, their samples
            are the new song's, and they are the first audio `on_audio` gets, before any new frame is made.
        kept_latents: optional, with `kept_audio`: the parent's `MusicResult.codec_tails`, float32
            [windows, 168, 256]. Without them the kept windows' flow runs again (not their waveform decode).
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
    prefix: Any = None
    cut: int | None = None
    decode_seed: int | None = None
    kept_audio: Any = None
    kept_latents: Any = None

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
        self._check_continuation()

    def _check_continuation(self) -> None:
        if self.decode_seed is not None:
            seed = _integer(self.decode_seed, "decode seed")
            if not 0 <= seed <= MAX_SEED:
                raise InvalidRequest(f"decode seed must be 0 to {MAX_SEED}, got {seed}")
            object.__setattr__(self, "decode_seed", seed)
        if self.prefix is None:
            if self.cut is not None or self.kept_audio is not None:
                raise InvalidRequest(f"{'a cut' if self.cut is not None else 'kept audio'} needs a prefix")
            return
        prefix = prefix_codes(self.prefix)
        if self.cut is not None:
            cut = _integer(self.cut, "cut")
            if not 1 <= cut <= len(prefix):
                raise InvalidRequest(
                    f"the cut must keep 1 to {len(prefix)} frames (the whole take is {len(prefix) / FRAME_RATE:g} s), "
                    f"got {cut}"
                )
            object.__setattr__(self, "cut", cut)
        object.__setattr__(self, "prefix", prefix)
        self._check_kept_audio()
        if frames_for(self.seconds) <= self.kept:
            raise InvalidRequest(
                f"the kept part is already {self.kept / FRAME_RATE:g} s long: ask for a song longer than that "
                f"(got {self.seconds:g} s in all)"
            )

    def _check_kept_audio(self) -> None:
        if self.kept_audio is not None:
            if self.decode_seed is None:
                raise InvalidRequest("kept audio needs the decode seed it was decoded with")
            object.__setattr__(self, "kept_audio", kept_audio_array(self.kept_audio))
        if self.kept_latents is not None:
            if self.kept_audio is None:
                raise InvalidRequest("kept codec latents need the kept audio they were decoded into")
            object.__setattr__(self, "kept_latents", kept_latents_array(self.kept_latents))

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
    def kept(self) -> int:
        """Frames kept from the prefix (0 without one)."""
        if self.prefix is None:
            return 0
        return len(self.prefix) if self.cut is None else self.cut

    @property
    def kept_codes(self) -> np.ndarray | None:
        """The kept frames, int64 [kept, 8], or None without a prefix."""
        return None if self.prefix is None else self.prefix[: self.kept]

    @property
    def frames(self) -> int:
        """New LM frames asked for (after the kept ones)."""
        return frames_for(self.seconds) - self.kept


def prefix_codes(value: Any, books: int = 8) -> np.ndarray:
    """Kept frames as a read-only int64 array [P, books] (P >= 1), or InvalidRequest naming what is wrong.

    Codes the codec cannot decode (negative, or >= 8192: the end-of-song and padding ids) are refused: the song
    they start could never be turned into audio.
    """
    if hasattr(value, "detach"):  # a torch tensor; requests stay torch-free
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"the prefix must be an integer array of shape [frames, {books}]") from None
    if array.dtype == object or not np.issubdtype(array.dtype, np.integer):
        raise InvalidRequest(f"the prefix must hold integer codes, got {array.dtype}")
    if array.ndim != 2 or array.shape[1] != books:
        raise InvalidRequest(f"the prefix must have shape [frames, {books}], got {list(array.shape)}")
    if array.shape[0] == 0:
        raise InvalidRequest("the prefix has no frames: nothing to continue from")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= CODEC_CODEBOOK_SIZE:
        raise InvalidRequest(
            f"the prefix holds codes the codec cannot decode (from {low} to {high}; each must lie in "
            f"[0, {CODEC_CODEBOOK_SIZE}))"
        )
    array = array.astype(np.int64)  # a copy: the caller's array may change later
    array.flags.writeable = False
    return array


def cut_at(seconds: float, frame_rate: float = FRAME_RATE) -> int:
    """Frames kept when a song is cut at `seconds`: round(seconds x frame_rate), at least 1."""
    seconds = _number(seconds, "the cut")
    if not seconds > 0:
        raise InvalidRequest(f"the cut must be a time after the start, got {seconds:g} s")
    return max(1, int(round(seconds * frame_rate)))


def parse_time(text: str | float) -> float:
    """Seconds from "75", "75.5", "1:15" or "1:15.5" (mm:ss); InvalidRequest for anything else."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _number(text, "time")
    parts = str(text).strip().split(":")
    try:
        if len(parts) == 1:
            seconds = float(parts[0])
        elif len(parts) == 2 and parts[0].strip().isdigit():
            minutes, rest = int(parts[0]), float(parts[1])
            if not 0 <= rest < 60:
                raise ValueError
            seconds = minutes * 60 + rest
        else:
            raise ValueError
    except ValueError:
        raise InvalidRequest(f"time must be seconds or mm:ss (e.g. 75 or 1:15), got {text!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidRequest(f"time must be seconds or mm:ss (e.g. 75 or 1:15), got {text!r}")
    return seconds


def style_strength(value: Any) -> float:
    """A style strength as a float in [0, MAX_STYLE_STRENGTH]; InvalidRequest otherwise."""
    strength = _number(value, "style strength")
    if not 0 <= strength <= MAX_STYLE_STRENGTH:
        raise InvalidRequest(f"style strength must be between 0 and {MAX_STYLE_STRENGTH:g}, got {value!r}")
    return strength


def check_reference_length(frames: int, sample_rate: int, name: str) -> None:
    """Refuse a reference recording too short to carry a style: an InvalidRequest naming `name` (its file).
    The one check `python -m heartmula_core embed`, the pipeline and the app's upload all make."""
    if frames < MIN_REFERENCE_SECONDS * sample_rate:
        raise InvalidRequest(
            f"{name}: {frames} samples ({frames / sample_rate * 1000:.1f} ms) of audio is too short for a style "
            f"reference; at least {MIN_REFERENCE_SECONDS:g} s is needed"
        )


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
