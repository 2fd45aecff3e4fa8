"""MuQ-MuLan-large built on meta from its three configs matches the official state-dict manifest.

Every key our model loads must exist in the manifest with the same shape and dtype; every manifest key we
do not load must be one the manifest documents as unused or training-only (and nothing else).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from heartmula_core.style.checkpoint import INV_FREQ_KEY, is_ignored, to_module_name
from heartmula_core.style.loading import build_on_meta, load_config

INFERENCE_USES = {"audio", "text"}


@pytest.fixture(scope="module")
def manifest(muq_ref: Path) -> dict:
    return json.loads((muq_ref / "manifest-large.json").read_text())


@pytest.fixture(scope="module")
def large_layout(manifest: dict, muq_ref: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three-repository layout of MuQ-MuLan-large (configs only; the tokenizer is the tiny one)."""
    root = tmp_path_factory.mktemp("large")
    configs = manifest["config"]
    folders = {
        "MuQ-MuLan-large/config.json": root / "MuQ-MuLan-large",
        # The config names "OpenMuQ/MuQ-large-msd-iter": the folder beside it may drop the owner.
        "OpenMuQ/MuQ-large-msd-iter/config.json": root / "MuQ-large-msd-iter",
        "xlm-roberta-base/config.json": root / "xlm-roberta-base",
    }
    for name, folder in folders.items():
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(configs[name]["value"]))
    shutil.copy(muq_ref / "tiny" / "xlm-roberta-tiny" / "tokenizer.json", root / "xlm-roberta-base")
    return root / "MuQ-MuLan-large"


def test_manifest_large_keys_shapes_dtypes_and_ignored_set(manifest: dict, large_layout: Path):
    cfg, _, _ = load_config(large_layout)
    ours = {k: v for k, v in build_on_meta(cfg).state_dict().items()}
    entries = {e["key"]: e for e in manifest["state_dict"]}
    assert len(entries) == manifest["counts"]["state_dict_entries"] == 743

    loaded = {k for k in entries if not is_ignored(k)}
    ignored = set(entries) - loaded
    documented_unused = {k for k, e in entries.items() if e["used_by"] not in INFERENCE_USES}
    assert ignored == documented_unused

    # The rotary buffer is read and checked against the recomputed one, not loaded into a module.
    assert INV_FREQ_KEY in loaded
    mapped = {to_module_name(k): k for k in loaded - {INV_FREQ_KEY}}
    assert len(mapped) == len(loaded) - 1, "two official keys map to one module name"
    assert set(mapped) == set(ours), (sorted(set(mapped) ^ set(ours)))[:10]
    for name, key in mapped.items():
        assert list(ours[name].shape) == entries[key]["shape"], key
        assert str(ours[name].dtype).removeprefix("torch.") == entries[key]["dtype"], key

    used = sum(
        t.numel() for k, t in ours.items() if not k.endswith("num_batches_tracked")
    ) + entries[INV_FREQ_KEY]["shape"][0]
    counted = manifest["counts"]["inference_numel_audio"] + manifest["counts"]["inference_numel_text"]
    batches = sum(1 for k in ours if k.endswith("num_batches_tracked"))
    assert used + batches == counted


def test_manifest_alternative_keys_are_all_ignored(manifest: dict):
    alternatives = manifest["alternatives"]
    for entry in alternatives["if_use_rvq_target_true"]["adds"]:
        assert is_ignored(entry["key"]), entry["key"]
    legacy = [
        "mulan.audio.model.model.conformer.pos_conv_embed.conv.weight_g",
        "mulan.audio.model.model.conformer.pos_conv_embed.conv.weight_v",
        "mulan.text.model.embeddings.position_ids",
    ]
    for key in legacy:
        assert is_ignored(key), key
