"""HeartCodec encoder configuration (`encoder_config.json`) and the tokenize constants.

The official file holds four sub-dicts (Whisper, WavLM, MuEncoder, query) that are deep-merged over the
official defaults, so a partial file is valid. Whisper's and WavLM's dicts are handed to transformers'
own config classes; the MuEncoder and query dicts become our dataclasses. Anything that would change the
math in a way we do not implement (another version, another chunk size, activations) is refused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ModelNotAvailable
from ...style.config import AudioTowerConfig, read_json

VERSION = "vqv12"
SAMPLE_RATE = 24_000  # Hz: what the encoder reads (the input is resampled to it)
SPEECH_SAMPLE_RATE = 16_000  # Hz: what WavLM and Whisper read
FRAME_RATE = 12.5  # Hz: token frames, one per 1920 samples at 24 kHz
FEATURE_RATE = 25.0  # Hz: the feature streams the query transformer reads
CHUNK_SAMPLES = 714_240  # 29.76 s at 24 kHz, the official chunk
CHUNK_TAIL = 240  # zero samples appended to every chunk (WavLM and Whisper read them)
CHUNK_FRAMES = int(CHUNK_SAMPLES / SAMPLE_RATE * FRAME_RATE)  # 372 token frames per chunk
CHUNK_FEATURES = int(CHUNK_SAMPLES / SAMPLE_RATE * FEATURE_RATE)  # 744 feature frames per chunk
WAVLM_LAYERS = (6, 10)  # hidden_states[6:10] (outputs of layers 6..9) are averaged
CONFORMER_ACOUSTIC = 2  # MuEncoder hidden_states[2]
CONFORMER_SEMANTIC = 11  # MuEncoder hidden_states[11] (not the last, normed one)

# The official defaults (the full-size model); a config file's sub-dicts are merged over these.
DEFAULTS: dict[str, Any] = {
    "version": VERSION,
    "chunk_samples": CHUNK_SAMPLES,
    "feature_extractors": {
        "whisper_config": {
            "d_model": 768, "encoder_layers": 12, "encoder_attention_heads": 12, "encoder_ffn_dim": 3072,
            "num_mel_bins": 80, "max_source_positions": 1500, "activation_function": "gelu", "dropout": 0.0,
            "attention_dropout": 0.0, "activation_dropout": 0.0, "encoder_layerdrop": 0.0,
            "scale_embedding": False,
        },
        "wavlm_config": {
            "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
            "hidden_act": "gelu", "hidden_dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0,
            "feat_proj_dropout": 0.1, "layerdrop": 0.05, "layer_norm_eps": 1e-05, "feat_extract_norm": "group",
            "feat_extract_activation": "gelu", "conv_dim": [512] * 7, "conv_stride": [5, 2, 2, 2, 2, 2, 2],
            "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_bias": False, "num_conv_pos_embeddings": 128,
            "num_conv_pos_embedding_groups": 16, "num_buckets": 320, "max_bucket_distance": 800,
            "do_stable_layer_norm": False, "add_adapter": False,
        },
        "muencoder_config": {
            "sample_rate": SAMPLE_RATE, "n_fft": 2048, "hop_length": 240, "n_mels": 128, "conv_dim": 512,
            "mean": 6.768444971712967, "std": 18.417922652295623,
            "conformer_config": {
                "hidden_size": 1024, "num_hidden_layers": 12, "num_attention_heads": 16,
                "intermediate_size": 4096, "hidden_act": "swish", "position_embeddings_type": "rotary",
                "rotary_embedding_base": 10000, "max_source_positions": 5000, "layer_norm_eps": 1e-05,
                "conv_depthwise_kernel_size": 31, "num_conv_pos_embeddings": 128,
                "num_conv_pos_embedding_groups": 16, "hidden_dropout": 0.1, "attention_dropout": 0.1,
                "activation_dropout": 0.1, "conformer_conv_dropout": 0.1, "layerdrop": 0.0,
            },
        },
    },
    "query": {"dim": 512, "num_layers": 6, "head_dim": 128, "interval": 2},
}  # fmt: skip


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`, dicts recursively (as the official loader does)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _require(condition: bool, what: str, source: Path | str) -> None:
    if not condition:
        raise ModelNotAvailable(f"{source}: unsupported encoder configuration ({what})")


@dataclass(frozen=True)
class QueryConfig:
    """The query transformer: fuses the four feature streams and emits one vector per token frame."""

    dim: int
    num_layers: int
    head_dim: int
    interval: int
    acoustic_channels: int  # width of the acoustic and of the semantic stream (stereo: 2 x conformer)
    whisper_channels: int
    wavlm_channels: int

    @property
    def num_heads(self) -> int:
        return self.dim // self.head_dim

    @property
    def rotary_dim(self) -> int:
        """Channels of each head that RoPE rotates; the rest pass through (partial RoPE)."""
        return max(self.head_dim // 2, 32)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: Path | str = "config", **widths: int) -> QueryConfig:
        """From the official `query` dict; the three stream widths default to `widths` (the features')."""
        try:
            cfg = cls(
                dim=int(raw["dim"]),
                num_layers=int(raw["num_layers"]),
                head_dim=int(raw["head_dim"]),
                interval=int(raw["interval"]),
                **{k: int(raw.get(k, widths.get(k, 0))) for k in ("acoustic_channels", "whisper_channels", "wavlm_channels")},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelNotAvailable(f"{source}: query config lacks {exc}") from exc
        _require(cfg.dim % cfg.head_dim == 0, "query dim not divisible by head_dim", source)
        _require(cfg.rotary_dim <= cfg.head_dim, "query head_dim below the 32 rotary channels", source)
        for name, width in widths.items():
            _require(getattr(cfg, name) == width, f"query {name} {getattr(cfg, name)} != feature width {width}", source)
        return cfg


@dataclass(frozen=True)
class EncoderConfig:
    """The whole encoder: transformers configs for Whisper and WavLM, ours for MuEncoder and the query."""

    whisper: dict[str, Any]
    wavlm: dict[str, Any]
    musicfm: AudioTowerConfig
    query: QueryConfig

    @classmethod
    def from_json(cls, path: Path) -> EncoderConfig:
        path = Path(path)
        if not path.is_file():
            raise ModelNotAvailable(f"{path.parent}: no {path.name} (the HeartCodec encoder folder needs it)")
        raw = read_json(path)
        if not isinstance(raw, dict):
            raise ModelNotAvailable(f"{path}: not a JSON object")
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: Path | str = "config") -> EncoderConfig:
        merged = deep_merge(DEFAULTS, raw)
        _require(merged["version"] == VERSION, f"version {merged['version']!r}, expected {VERSION!r}", source)
        _require(merged["chunk_samples"] == CHUNK_SAMPLES, f"chunk_samples {merged['chunk_samples']}", source)
        features = merged["feature_extractors"]
        whisper, wavlm, mu = features["whisper_config"], features["wavlm_config"], features["muencoder_config"]
        conformer = mu["conformer_config"]
        try:
            musicfm = AudioTowerConfig(
                sample_rate=int(mu["sample_rate"]),
                hop_length=int(mu["hop_length"]),
                n_mels=int(mu["n_mels"]),
                mel_mean=float(mu["mean"]),
                mel_std=float(mu["std"]),
                conv_dim=int(mu["conv_dim"]),
                encoder_dim=int(conformer["hidden_size"]),
                encoder_depth=int(conformer["num_hidden_layers"]),
                num_heads=int(conformer["num_attention_heads"]),
                ffn_dim=int(conformer["intermediate_size"]),
                depthwise_kernel=int(conformer["conv_depthwise_kernel_size"]),
                rotary_base=float(conformer["rotary_embedding_base"]),
                layer_norm_eps=float(conformer["layer_norm_eps"]),
            )
            widths = {
                "acoustic_channels": 2 * musicfm.encoder_dim,
                "whisper_channels": 2 * int(whisper["d_model"]),
                "wavlm_channels": 2 * int(wavlm["hidden_size"]),
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelNotAvailable(f"{source}: encoder config lacks {exc}") from exc
        _require(musicfm.sample_rate == SAMPLE_RATE and musicfm.hop_length == 240, "MuEncoder rate/hop", source)
        _require(int(mu["n_fft"]) == musicfm.n_fft, f"MuEncoder n_fft {mu['n_fft']}", source)
        _require(conformer["hidden_act"] in ("swish", "silu"), "conformer hidden_act", source)
        _require(conformer["position_embeddings_type"] == "rotary", "conformer position embeddings", source)
        _require(musicfm.encoder_depth > CONFORMER_SEMANTIC, "conformer needs 12 layers", source)
        _require(int(wavlm["num_hidden_layers"]) >= WAVLM_LAYERS[1] - 1, "WavLM needs 9 layers", source)
        _require(int(whisper["num_mel_bins"]) == 80, "Whisper reads 80 mel bins", source)
        query = QueryConfig.from_dict(merged["query"], source, **widths)
        return cls(whisper=whisper, wavlm=wavlm, musicfm=musicfm, query=query)
