"""The full-size HeartCodec encoder, built on `meta`, against the official manifest (1,006 keys, no 2 GB)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from heartmula_core.codec.encoder.checkpoint import CHECKED, PREFIX, UNUSED, build_network, convert
from heartmula_core.codec.encoder.config import EncoderConfig
from heartmula_core.weights import describe_mismatch

DTYPES = {"float32": torch.float32, "int64": torch.int64}


@pytest.fixture(scope="module")
def manifest(encoder_ref: Path) -> dict:
    return json.loads((encoder_ref / "manifest-encoder.json").read_text())


def stored(manifest: dict) -> dict[str, torch.Tensor]:
    """Every manifest key (prefix stripped) as an empty meta tensor of its shape and dtype."""
    assert all(k.startswith(PREFIX) for k in manifest["state_dict"])
    return {
        key.removeprefix(PREFIX): torch.empty(shape, dtype=DTYPES[dtype], device="meta")
        for key, (shape, dtype) in manifest["state_dict"].items()
    }


def test_manifest_keys_and_shapes_match_full_size_encoder(manifest: dict) -> None:
    assert len(manifest["state_dict"]) == manifest["num_tensors"] == 1006
    network = build_network(EncoderConfig.from_dict(manifest["config"]))
    state = stored(manifest)
    unused = {k for k in state if UNUSED.match(k)}
    assert unused and all("pos_conv_embed" in k for k in unused)
    assert set(CHECKED) <= set(state)  # the recomputed tables are all in the file
    loaded = convert({k: v for k, v in state.items() if k not in unused and k not in CHECKED})
    ours = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    assert describe_mismatch(ours, {k: tuple(v.shape) for k, v in loaded.items()}) is None
    dtypes = {k: v.dtype for k, v in network.state_dict().items()}
    assert all(dtypes[k] == v.dtype for k, v in loaded.items())


def test_manifest_default_config_is_ours(manifest: dict) -> None:
    """The manifest's config is the official default: an empty config file gives the same model."""
    assert EncoderConfig.from_dict(manifest["config"]) == EncoderConfig.from_dict({})


def test_manifest_parameter_counts(manifest: dict) -> None:
    network = build_network(EncoderConfig.from_dict({}))
    per_module = manifest["parameters_per_module"]

    def params(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    features = network.features
    assert params(features.whisper) == per_module["feature_extractors.whisper_encoder"]
    assert params(features.wavlm) == per_module["feature_extractors.wavlm_encoder"]
    # The conformer's unused positional conv is stored but not built; weight norm folding removes the
    # query's magnitudes g (original0), one per output row.
    pos_conv = sum(
        math.prod(shape)
        for key, (shape, _) in manifest["state_dict"].items()
        if UNUSED.match(key) and key not in manifest["buffers_in_state_dict"]
    )
    assert params(features.musicfm) == per_module["feature_extractors.muencoder"] - pos_conv
    magnitudes = sum(
        math.prod(shape) for key, (shape, _) in manifest["state_dict"].items() if key.endswith("original0")
        and key.startswith(PREFIX + "query.")
    )
    assert params(network.query) == per_module["query"] - magnitudes
    assert sum(per_module.values()) == manifest["total_parameters"] == 536_970_736
