"""The full-size HeartCodec-oss, built on `meta`, against the official manifest (no 6 GB allocation)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from heartmula_core.codec.checkpoint import UNUSED, build_heartcodec, checkpoint_to_model_state
from heartmula_core.codec.config import HeartCodecConfig
from heartmula_core.weights import describe_mismatch

DTYPES = {"float32": torch.float32, "bool": torch.bool}


@pytest.fixture(scope="module")
def manifest(heartmula_ref) -> dict:
    return json.loads((heartmula_ref / "manifests" / "heartcodec-oss.json").read_text())


def fake_checkpoint(manifest: dict) -> dict[str, torch.Tensor]:
    """Every manifest key as an empty meta tensor of its shape and dtype."""
    return {
        key: torch.empty(shape, dtype=DTYPES[dtype], device="meta")
        for key, (shape, dtype) in manifest["state_dict"].items()
    }


def shapes(state) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def numel(manifest: dict, predicate) -> int:
    return sum(math.prod(shape) for key, (shape, _) in manifest["state_dict"].items() if predicate(key))


def test_manifest_checkpoint_keys_match_full_size_model(manifest: dict) -> None:
    model = build_heartcodec(HeartCodecConfig.from_dict(manifest["config"]))
    assert all(t.is_meta for t in model.state_dict().values())
    converted = checkpoint_to_model_state(fake_checkpoint(manifest))
    assert describe_mismatch(shapes(model.state_dict()), shapes(converted)) is None


def test_manifest_parameter_counts(manifest: dict) -> None:
    model = build_heartcodec(HeartCodecConfig.from_dict(manifest["config"]))
    by_module = manifest["params_by_module"]
    buffers = set(manifest["buffers_in_state_dict"])
    # The manifest's totals are consistent with its own state dict (buffers excluded).
    assert numel(manifest, lambda k: k not in buffers) == manifest["params"] == sum(by_module.values())

    def params(module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert params(model.estimator) == by_module["flow_matching.estimator"]
    assert params(model.cond_proj) == by_module["flow_matching.cond_feature_emb"]
    project_in = numel(manifest, lambda k: k.startswith("flow_matching.vq_embed.project_in."))
    assert params(model.quantizer) == by_module["flow_matching.vq_embed"] - project_in
    # Folding weight norm removes the magnitudes g (original0); everything else of the decoder is kept.
    magnitudes = numel(manifest, lambda k: k.startswith("scalar_model.decoder.") and k.endswith("original0"))
    assert params(model.decoder) == by_module["scalar_model.decoder"] - magnitudes
    assert sum(1 for k in manifest["state_dict"] if k.endswith(".original0")) * 2 == manifest["num_weight_norm_params"]

    # The only buffer kept is the stacked codebook; the RVQ training buffers are skipped on purpose.
    assert dict(model.named_buffers()).keys() == {"quantizer.codebooks"}
    kept = sorted(k for k in buffers if not UNUSED.match(k))
    assert kept == [f"flow_matching.vq_embed.layers.{i}._codebook.embed" for i in range(8)]
    unused = by_module["scalar_model.encoder"] + project_in + by_module["flow_matching.zero_cond_embedding1"]
    assert params(model) == manifest["params"] - unused - magnitudes


def test_manifest_loader_rejects_a_changed_checkpoint(manifest: dict) -> None:
    model_shapes = shapes(build_heartcodec(HeartCodecConfig.from_dict(manifest["config"])).state_dict())
    for change in ("drop", "extra", "half_weight_norm", "reshape"):
        state = fake_checkpoint(manifest)
        if change == "drop":
            del state["flow_matching.estimator.transformer_blocks.3.attn.q_proj.weight"]
        elif change == "extra":
            state["flow_matching.estimator.unknown.weight"] = torch.empty(3, device="meta")
        elif change == "half_weight_norm":
            del state["scalar_model.decoder.2.convs.1.conv1.parametrizations.weight.original0"]
        else:
            state["flow_matching.vq_embed.layers.5._codebook.embed"] = torch.empty(1, 8192, 16, device="meta")
        assert describe_mismatch(model_shapes, shapes(checkpoint_to_model_state(state))) is not None, change
