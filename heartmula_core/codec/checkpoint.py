"""Loading the official HeartCodec-oss checkpoint, unchanged, into our decode-only `HeartCodec`.

What happens to the checkpoint's keys:
- weight-normed convs (`<conv>.parametrizations.weight.original0/1` = g, v) are folded into a plain
  `<conv>.weight` = g * v / ||v|| once here (norm over every dim but 0; for ConvTranspose1d dim 0 is the
  *input* channel, and the same formula applies);
- the 8 per-quantizer codebooks are stacked into one [8, 8192, 32] buffer;
- module names are mapped onto ours (`RENAMES`);
- tensors decoding never reads are skipped on purpose (`UNUSED`), without being read from disk;
- everything else must match the model exactly (`heartmula_core.weights.load_state_dict_strict`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from ..weights import load_state_dict_strict, parse_dtype, read_state_dict
from .config import HeartCodecConfig
from .heartcodec import HeartCodec

CONFIG_FILE = "config.json"

# Checkpoint tensors decoding does not use, skipped by design:
UNUSED = re.compile(
    r"^(scalar_model\.encoder\."  # the waveform -> latent encoder (training / tokenizing audio)
    r"|flow_matching\.vq_embed\.layers\.\d+\._codebook\.(initted|cluster_size|embed_avg)$"  # RVQ EMA training state
    r"|flow_matching\.vq_embed\.project_in\."  # RVQ encode-side projection
    r"|flow_matching\.zero_cond_embedding1$)"  # only replaces masked-out conditions; detokenize masks none
)

# Official name -> ours, applied in order (regex, replacement).
RENAMES: tuple[tuple[str, str], ...] = (
    (r"^flow_matching\.vq_embed\.project_out\.", "quantizer.project_out."),
    (r"^flow_matching\.cond_feature_emb\.", "cond_proj."),
    (r"^flow_matching\.estimator\.transformer_blocks\.", "estimator.stage1.blocks."),
    (r"^flow_matching\.estimator\.transformer_blocks_2\.", "estimator.stage2.blocks."),
    (r"^flow_matching\.estimator\.adaln_single\.", "estimator.stage1.adaln_single."),
    (r"^flow_matching\.estimator\.adaln_single_2\.", "estimator.stage2.adaln_single."),
    (r"^flow_matching\.estimator\.scale_shift_table$", "estimator.stage1.scale_shift_table"),
    (r"^flow_matching\.estimator\.scale_shift_table_2$", "estimator.stage2.scale_shift_table"),
    (r"^flow_matching\.estimator\.", "estimator."),
    (r"\.emb\.timestep_embedder\.", "."),
    (r"^scalar_model\.decoder\.", "decoder.layers."),
    (r"\.up_conv\.layer\.", ".up_conv."),
)
CODEBOOK = re.compile(r"^flow_matching\.vq_embed\.layers\.(\d+)\._codebook\.embed$")
WEIGHT_NORM = re.compile(r"^(.*)\.parametrizations\.weight\.original([01])$")


def is_unused(key: str) -> bool:
    return UNUSED.match(key) is not None


def fold_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Effective weight g * v / ||v||, the norm over every dim except 0 (g has shape [dim0, 1, ..., 1])."""
    return v * (g / v.norm(dim=tuple(range(1, v.dim())), keepdim=True))


def fold_weight_norm_pairs(
    halves: Mapping[str, Mapping[str, torch.Tensor]], rename: Callable[[str], str]
) -> dict[str, torch.Tensor]:
    """{module: {"0": g, "1": v}} -> {rename(module.weight): folded weight}. Half a pair keeps its official
    names, so the strict check reports it."""
    out: dict[str, torch.Tensor] = {}
    for module, parts in halves.items():
        if parts.keys() == {"0", "1"}:
            out[rename(module + ".weight")] = fold_weight_norm(parts["0"], parts["1"])
        else:
            out.update({f"{module}.parametrizations.weight.original{i}": t for i, t in parts.items()})
    return out


def checkpoint_to_model_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official HeartCodec state dict -> ours. Unused keys are dropped; anything unrecognised is kept under
    its own name so the strict check reports it."""
    out: dict[str, torch.Tensor] = {}
    codebooks: dict[int, torch.Tensor] = {}
    halves: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        if is_unused(key):
            continue
        if match := CODEBOOK.match(key):
            codebooks[int(match[1])] = tensor
        elif match := WEIGHT_NORM.match(key):
            halves.setdefault(match[1], {})[match[2]] = tensor
        else:
            out[_rename(key)] = tensor
    out |= fold_weight_norm_pairs(halves, _rename)
    stackable = len({tuple(t.shape) for t in codebooks.values()}) == 1
    if stackable and sorted(codebooks) == list(range(len(codebooks))):
        out["quantizer.codebooks"] = torch.cat([codebooks[i] for i in range(len(codebooks))])  # (Q, size, cdim)
    else:
        out.update({f"flow_matching.vq_embed.layers.{i}._codebook.embed": t for i, t in codebooks.items()})
    return out


def _rename(key: str) -> str:
    for pattern, replacement in RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def build_heartcodec(config: HeartCodecConfig, device: torch.device | str = "meta") -> HeartCodec:
    """A HeartCodec with uninitialised tensors (on `meta` by default: no memory)."""
    with torch.device(device):
        return HeartCodec(config)


def load_heartcodec(
    folder: str | Path, dtype: str | torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> HeartCodec:
    """Load an official HeartCodec folder (config.json + model.safetensors) for decoding.

    `dtype` applies to the flow-matching estimator (the heavy part; bfloat16 is fine on GPU); the RVQ, the
    condition projection and the SQ decoder stay float32, because the decoder rounds its input to a 1/9 grid.
    Raises ModelNotAvailable (missing/unreadable files) or CheckpointMismatch (keys or shapes differ).
    """
    folder = Path(folder)
    config = HeartCodecConfig.from_json(folder / CONFIG_FILE)
    model = build_heartcodec(config)
    state = checkpoint_to_model_state(read_state_dict(folder, skip=is_unused))
    load_state_dict_strict(model, state, dtype=torch.float32, device="cpu", source=str(folder))
    del state
    model.estimator.to(dtype=parse_dtype(dtype))  # cast before moving: the device never holds the fp32 copy
    return model.to(device).eval()
