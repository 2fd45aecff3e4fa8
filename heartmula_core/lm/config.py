"""Model configs for the HeartMuLa token LM, read from the official `config.json`.

A HeartMuLa checkpoint names two Llama-3.2-style flavors (the backbone and the depth decoder). The
flavor table below holds the four official ones and the tiny test flavors; a config.json may also
define a flavor in a `flavor_specs` entry (the tiny checkpoints do: the official code ignores it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import CheckpointMismatch, ModelNotAvailable

CONFIG_FILE = "config.json"
GEN_CONFIG_FILE = "gen_config.json"

FRAME_RATE_HZ = 12.5  # audio frames (one code per codebook) per second
FRAME_MS = 1000.0 / FRAME_RATE_HZ  # 80 ms of audio per frame
# Entries per HeartCodec codebook: LM ids >= this are specials (8192 unused, 8193 end of audio, ...)
# that the codec cannot decode.
CODEC_CODEBOOK_SIZE = 8192


@dataclass(frozen=True)
class LlamaConfig:
    """One Llama-3.2-style transformer flavor (torchtune's `llama3_2` builder layout, no token embedding)."""

    num_layers: int
    embed_dim: int
    num_heads: int
    num_kv_heads: int
    intermediate_dim: int
    max_seq_len: int
    norm_eps: float = 1e-5
    rope_base: float = 500_000.0
    rope_scale_factor: float = 32.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_old_context_len: int = 8192

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} / num_heads {self.num_heads} / num_kv_heads {self.num_kv_heads} "
                "do not divide evenly"
            )

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LlamaConfig:
        """A flavor from a `flavor_specs` entry (unknown keys are an error: a typo must not pass silently)."""
        known = {f.name for f in fields(cls)}
        extra = set(spec) - known
        if extra:
            raise ValueError(f"unknown flavor fields: {', '.join(sorted(extra))}")
        return cls(**spec)


def _official(num_layers: int, dim: int, heads: int, kv: int, mlp: int, ctx: int) -> LlamaConfig:
    return LlamaConfig(
        num_layers=num_layers, embed_dim=dim, num_heads=heads, num_kv_heads=kv, intermediate_dim=mlp, max_seq_len=ctx
    )


FLAVORS: dict[str, LlamaConfig] = {
    "llama-3B": _official(28, 3072, 24, 8, 8192, 8192),
    "llama-300M": _official(3, 3072, 8, 4, 8192, 2048),
    "llama-7B": _official(32, 4096, 32, 8, 14336, 8192),
    "llama-400M": _official(4, 3072, 8, 4, 8192, 2048),
    # Test flavors of the tiny reference checkpoints (tests/fixtures/heartmula/tiny).
    "llama-tiny-backbone": _official(2, 64, 4, 2, 128, 2048),
    "llama-tiny-decoder": _official(2, 32, 4, 2, 64, 2048),
}


@dataclass(frozen=True)
class HeartMuLaConfig:
    """The LM's top-level config: two flavors plus the vocabulary sizes."""

    backbone: LlamaConfig
    decoder: LlamaConfig
    text_vocab_size: int = 128_256
    audio_vocab_size: int = 8197
    audio_num_codebooks: int = 8
    muq_dim: int = 512

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HeartMuLaConfig:
        """Build from the official config.json contents; an unknown flavor raises CheckpointMismatch."""
        specs = raw.get("flavor_specs") or {}

        def flavor(key: str) -> LlamaConfig:
            name = raw.get(key)
            if not isinstance(name, str):
                raise CheckpointMismatch(f"config.json has no '{key}'")
            if name in specs:
                try:
                    return LlamaConfig.from_spec(specs[name])
                except (TypeError, ValueError) as exc:
                    raise CheckpointMismatch(f"config.json flavor_specs['{name}'] is invalid: {exc}") from exc
            if name in FLAVORS:
                return FLAVORS[name]
            raise CheckpointMismatch(
                f"unknown {key.replace('_', ' ')} '{name}'; known flavors: {', '.join(FLAVORS)}"
            )

        counts = {}
        for key in ("text_vocab_size", "audio_vocab_size", "audio_num_codebooks", "muq_dim"):
            if key in raw:
                counts[key] = int(raw[key])
        return cls(backbone=flavor("backbone_flavor"), decoder=flavor("decoder_flavor"), **counts)

    @classmethod
    def from_folder(cls, folder: str | Path) -> HeartMuLaConfig:
        path = Path(folder) / CONFIG_FILE
        try:
            return cls.from_dict(read_json(path))
        except CheckpointMismatch as exc:  # name the file: `--lm` given the codec's folder is a common slip
            raise CheckpointMismatch(f"{path}: not a HeartMuLa LM config ({exc})") from None


@dataclass(frozen=True)
class GenConfig:
    """Special ids of the generation setup (`gen_config.json` beside `tokenizer.json`)."""

    text_bos_id: int = 128_000
    text_eos_id: int = 128_001
    audio_eos_id: int = 8193
    empty_id: int = 0

    @classmethod
    def from_folder(cls, folder: str | Path) -> GenConfig:
        raw = read_json(Path(folder) / GEN_CONFIG_FILE)
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in raw.items() if k in known})


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from disk; a missing or broken file is ModelNotAvailable with the path in the message."""
    if not path.parent.is_dir():
        raise ModelNotAvailable(f"folder not found: {path.parent}")
    if not path.is_file():
        raise ModelNotAvailable(f"{path.name} not found in {path.parent}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelNotAvailable(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ModelNotAvailable(f"{path} is not a JSON object")
    return raw
