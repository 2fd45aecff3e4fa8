"""The three configs MuQ-MuLan needs, read from the official `config.json` files.

MuQ-MuLan spreads its hyper-parameters over three Hugging Face repositories: the MuQ-MuLan config itself
(the MuLan heads and text transformer), the audio tower's config (OpenMuQ/MuQ-large-msd-iter: the mel
statistics and the conformer sizes) and the text model's config (xlm-roberta-base). Only the fields the
inference path uses are kept; anything that would change the math in a way we do not implement is refused
with a clear error instead of silently computing something else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ModelNotAvailable

# The audio tower's only feature is "melspec_2048": a 2048-point STFT mel spectrogram.
MEL_FEATURE = "melspec_2048"
N_FFT = 2048


def read_json(path: Path) -> dict[str, Any]:
    """A config file as a dict; a missing or broken file is ModelNotAvailable naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelNotAvailable(f"missing {path}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelNotAvailable(f"cannot read {path}: {exc}") from exc


def _ceil_half(n: int) -> int:
    """Output length of a stride-2, kernel-3, padding-1 convolution."""
    return (n + 1) // 2


def _require(condition: bool, what: str, source: Path | str) -> None:
    if not condition:
        raise ModelNotAvailable(f"{source}: unsupported configuration ({what})")


@dataclass(frozen=True)
class AudioTowerConfig:
    """MuQ audio tower (mel front end, conv subsampling, wav2vec2-conformer), from MuQ's config.json."""

    sample_rate: int
    hop_length: int
    n_mels: int
    mel_mean: float
    mel_std: float
    conv_dim: int
    encoder_dim: int
    encoder_depth: int
    num_heads: int
    ffn_dim: int
    depthwise_kernel: int
    rotary_base: float
    layer_norm_eps: float

    @property
    def n_fft(self) -> int:
        return N_FFT

    @property
    def head_dim(self) -> int:
        return self.encoder_dim // self.num_heads

    @property
    def n_mels_subsampled(self) -> int:
        """Mel bins left after the two stride-2 conv blocks (128 -> 32)."""
        return _ceil_half(_ceil_half(self.n_mels))

    @classmethod
    def from_json(cls, path: Path, sample_rate: int) -> AudioTowerConfig:
        return cls.from_dict(read_json(path), sample_rate, path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], sample_rate: int, path: Path | str = "config") -> AudioTowerConfig:
        w2v2 = raw.get("w2v2_config", {})
        try:
            features = raw["features"]
            label_rate = raw["label_rate"]
            hop = raw["hop_length"]
            cfg = cls(
                sample_rate=sample_rate,
                hop_length=hop,
                n_mels=raw["n_mels"],
                mel_mean=float(raw["stat"][f"{MEL_FEATURE}_mean"]),
                mel_std=float(raw["stat"][f"{MEL_FEATURE}_std"]),
                conv_dim=raw["conv_dim"],
                encoder_dim=raw["encoder_dim"],
                encoder_depth=raw["encoder_depth"],
                num_heads=w2v2["num_attention_heads"],
                ffn_dim=w2v2["intermediate_size"],
                depthwise_kernel=w2v2["conv_depthwise_kernel_size"],
                rotary_base=float(w2v2.get("rotary_embedding_base", 10000)),
                layer_norm_eps=float(w2v2.get("layer_norm_eps", 1e-5)),
            )
        except (KeyError, TypeError) as exc:
            raise ModelNotAvailable(f"{path}: missing field {exc}") from exc
        _require(features == [MEL_FEATURE], f"features {features}", path)
        # MuQ derives its conv strides from the frame rate ratio; we implement the (2, 2) case it ships.
        _require(sample_rate / hop / label_rate == 4, f"label_rate {label_rate} with hop {hop}", path)
        _require(w2v2.get("hidden_act", "swish") in ("swish", "silu"), "hidden_act", path)
        _require(w2v2.get("position_embeddings_type") == "rotary", "position_embeddings_type", path)
        _require(cfg.encoder_dim % cfg.num_heads == 0, "encoder_dim not divisible by heads", path)
        return cfg


@dataclass(frozen=True)
class TextModelConfig:
    """XLM-RoBERTa encoder sizes, from the text model's config.json."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int

    @classmethod
    def from_json(cls, path: Path) -> TextModelConfig:
        return cls.from_dict(read_json(path), path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: Path | str = "config") -> TextModelConfig:
        try:
            cfg = cls(
                vocab_size=raw["vocab_size"],
                hidden_size=raw["hidden_size"],
                num_layers=raw["num_hidden_layers"],
                num_heads=raw["num_attention_heads"],
                intermediate_size=raw["intermediate_size"],
                max_positions=raw["max_position_embeddings"],
                type_vocab_size=raw["type_vocab_size"],
                layer_norm_eps=float(raw["layer_norm_eps"]),
                pad_token_id=raw["pad_token_id"],
            )
        except KeyError as exc:
            raise ModelNotAvailable(f"{path}: missing field {exc}") from exc
        _require(raw.get("hidden_act", "gelu") == "gelu", "hidden_act", path)
        _require(raw.get("position_embedding_type", "absolute") == "absolute", "position_embedding_type", path)
        return cfg


@dataclass(frozen=True)
class MulanConfig:
    """The MuQ-MuLan config itself plus its two sub-model configs (the three-repository layout)."""

    sample_rate: int
    clip_seconds: float
    dim_latent: int
    audio_dim: int
    text_dim: int
    text_depth: int
    text_heads: int
    text_dim_head: int
    text_ff_mult: int
    audio_model_name: str
    audio_model_dim: int | None
    text_model_name: str
    audio: AudioTowerConfig | None = None
    text: TextModelConfig | None = None

    @property
    def clip_samples(self) -> int:
        return int(self.sample_rate * self.clip_seconds)

    @classmethod
    def from_json(cls, path: Path) -> MulanConfig:
        """The MuQ-MuLan config alone; `with_submodels` adds the two sub-model configs."""
        return cls.from_dict(read_json(path), path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: Path | str = "config") -> MulanConfig:
        try:
            mulan, audio_model, text_model = raw["mulan"], raw["audio_model"], raw["text_model"]
            audio_tf, text_tf = raw["audio_transformer"], raw["text_transformer"]
            cfg = cls(
                sample_rate=mulan.get("sr", 24000),
                clip_seconds=mulan.get("clip_secs", 10),
                dim_latent=mulan.get("dim_latent", 128),
                audio_dim=audio_tf["dim"],
                text_dim=text_tf["dim"],
                text_depth=text_tf["tf_depth"],
                text_heads=text_tf.get("heads", 8),
                text_dim_head=text_tf.get("dim_head", 64),
                text_ff_mult=text_tf.get("ff_mult", 4),
                audio_model_name=audio_model["name"],
                audio_model_dim=audio_model.get("model_dim"),
                text_model_name=text_model["name"],
            )
        except (KeyError, TypeError) as exc:
            raise ModelNotAvailable(f"{path}: missing field {exc}") from exc
        # What the official checkpoint uses; other values add modules whose layout is not documented.
        _require(audio_tf.get("tf_depth", 0) == 0, "audio_transformer.tf_depth must be 0", path)
        _require(text_model.get("model_dim") is None, "text_model.model_dim must be null", path)
        _require(audio_model.get("use_layer_idx", -1) == -1, "audio_model.use_layer_idx must be -1", path)
        _require("muq" in cfg.audio_model_name.lower(), f"audio model {cfg.audio_model_name}", path)
        _require("xlm-roberta" in cfg.text_model_name, f"text model {cfg.text_model_name}", path)
        return cfg

    def with_submodels(self, audio: AudioTowerConfig, text: TextModelConfig, source: Path | str) -> MulanConfig:
        _require(audio.sample_rate == self.sample_rate, "sample rates differ", source)
        _require(text.hidden_size == self.text_dim, "text model width != text_transformer.dim", source)
        _require(
            self.audio_model_dim in (None, audio.encoder_dim), "audio_model.model_dim != encoder_dim", source
        )
        return replace(self, audio=audio, text=text)
