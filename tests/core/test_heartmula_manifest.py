"""The full-size HeartMuLa-oss-3B, built on `meta`, matches the official checkpoint manifest exactly."""

import json

import pytest

from heartmula_core.lm.config import FLAVORS, HeartMuLaConfig
from heartmula_core.lm.heartmula import build_heartmula


@pytest.fixture(scope="module")
def manifest(heartmula_ref):
    return json.loads((heartmula_ref / "manifests" / "heartmula-oss-3b.json").read_text())


def test_manifest_3b_keys_shapes_and_param_count(manifest):
    config = HeartMuLaConfig.from_dict(manifest["config"])
    model = build_heartmula(config)  # meta: no memory
    expected = {k: tuple(shape) for k, (shape, _dtype) in manifest["state_dict"].items()}
    assert model.checkpoint_shapes() == expected
    assert sum(p.numel() for p in model.parameters()) == manifest["params"]
    by_top = {}
    for name, param in model.named_parameters():
        top = name.split(".")[0]
        by_top[top] = by_top.get(top, 0) + param.numel()
    assert by_top == manifest["params_by_top_module"]


@pytest.mark.parametrize("name", ["llama-3B", "llama-300M", "llama-7B", "llama-400M"])
def test_manifest_official_flavor_dims(manifest, name):
    spec, ours = manifest["flavors"][name], FLAVORS[name]
    for key in ("num_layers", "embed_dim", "num_heads", "num_kv_heads", "head_dim", "intermediate_dim", "max_seq_len"):
        assert getattr(ours, key) == spec[key], key
    assert ours.rope_base == spec["rope_base"] and ours.rope_scale_factor == spec["rope_scale_factor"]
    assert ours.norm_eps == spec["norm_eps"]
