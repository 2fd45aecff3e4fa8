"""MuQ-MuLan checkpoint files and key names: read, rename onto our modules, and say what is ignored.

The official state dict carries keys that inference never uses (training heads, quantizer buffers, an
unused positional conv, a pooler). They are ignored on purpose, each for a documented reason; any other
unknown or missing key is a CheckpointMismatch. The rotary `inv_freq` buffer is read and checked against
the value we compute (we recompute the tables in float32 whatever the model dtype).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import CheckpointMismatch, ModelNotAvailable
from ..weights import SAFETENSORS_FILE, SAFETENSORS_INDEX, checkpoint_files, read_state_dict

PICKLE_FILE = "pytorch_model.bin"
ALIGNMENT = 64
INV_FREQ_KEY = "mulan.audio.model.model.conformer.embed_positions.inv_freq"

# Official key prefix (regex) -> why inference ignores it.
IGNORED: dict[str, str] = {
    r"mulan\.audio\.model\.model\.cls_token$": "unused MuQ cls token",
    r"mulan\.audio\.model\.model\.linear\.": "training-only MuQ pre-training logits head",
    r"mulan\.audio\.model\.model\.quantizer_melspec_2048\.": "training-only MuQ quantizer targets",
    r"mulan\.audio\.model\.model\.rvq\.": "training-only MuQ RVQ targets (use_rvq_target checkpoints)",
    r"mulan\.audio\.model\.model\.conformer\.pos_conv_embed\.": "unused: built by wav2vec2-conformer, never called",
    r"mulan\.audio\.aggregator\.": "unused Conv1d aggregator, never called",
    r"mulan\.text\.model\.pooler\.": "unused XLM-R pooler (only the last hidden state is read)",
    r"mulan\.text\.model\.embeddings\.position_ids$": "legacy buffer; positions come from the padding mask",
    r"mulan\.contrast\.temperatures$": "training-only contrastive loss temperature",
}
_IGNORED = re.compile("|".join(f"(?:{p})" for p in IGNORED))

# Official name (regex) -> our module name. Applied in order; the first match wins.
_RENAMES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^mulan\.audio\.model\.model\.conv\.conv\."), "audio.subsampling.blocks."),
    (re.compile(r"^mulan\.audio\.model\.model\.conv\.linear\."), "audio.subsampling.linear."),
    (re.compile(r"^mulan\.audio\.model\.model\.conformer\."), "audio.conformer."),
    (re.compile(r"^mulan\.audio\.proj\."), "audio.proj."),
    (re.compile(r"^mulan\.text\.model\."), "text.encoder."),
    (re.compile(r"^mulan\.text\.transformer\.layers\.(\d+)\.0\.norm\.learned_gamma$"), r"text.transformer.layers.\1.attn.norm.weight"),
    (re.compile(r"^mulan\.text\.transformer\.layers\.(\d+)\.0\.to_out\.0\."), r"text.transformer.layers.\1.attn.to_out."),
    (re.compile(r"^mulan\.text\.transformer\.layers\.(\d+)\.0\."), r"text.transformer.layers.\1.attn."),
    (re.compile(r"^mulan\.text\.transformer\.layers\.(\d+)\.1\.0\.learned_gamma$"), r"text.transformer.layers.\1.ff.norm.weight"),
    (re.compile(r"^mulan\.text\.transformer\.layers\.(\d+)\.1\.1\."), r"text.transformer.layers.\1.ff.proj_in."),
    (re.compile(r"^mulan\.text\.transformer\.layers\.(\d+)\.1\.4\."), r"text.transformer.layers.\1.ff.proj_out."),
    (re.compile(r"^mulan\.(audio_to_latents|text_to_latents)\."), r"\1."),
]


def is_ignored(key: str) -> bool:
    """True for official keys that inference ignores on purpose (see IGNORED for the reasons)."""
    return _IGNORED.match(key) is not None


def to_module_name(key: str) -> str:
    """Official key -> our parameter name; a key no rule covers is returned unchanged (and then rejected)."""
    for pattern, replacement in _RENAMES:
        if pattern.match(key):
            return pattern.sub(replacement, key, count=1)
    return key


def weights_file(folder: Path) -> Path | None:
    """The pickle fallback when the folder has no safetensors weights, else None (use safetensors)."""
    folder = Path(folder)
    if (folder / SAFETENSORS_FILE).is_file() or (folder / SAFETENSORS_INDEX).is_file():
        return None
    if (folder / PICKLE_FILE).is_file():
        return folder / PICKLE_FILE
    raise ModelNotAvailable(f"no {SAFETENSORS_FILE} or {PICKLE_FILE} in {folder}")


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        # weights_only: a checkpoint is data, never code.
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises several types (pickle, zip, weights-only refusals)
        raise ModelNotAvailable(f"cannot read {path}: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelNotAvailable(f"{path} is not a state dict of tensors")
    return {k: v for k, v in state.items() if not is_ignored(k)}


def read_mulan_state(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor inference uses from the MuQ-MuLan folder, official names, ignored keys left out."""
    pickle_path = weights_file(folder)
    if pickle_path is not None:
        return _read_pickle(pickle_path)
    checkpoint_files(folder)  # clear error for a partial sharded download before reading anything
    return read_state_dict(folder, skip=is_ignored)


def convert(state: dict[str, torch.Tensor], expected_inv_freq: torch.Tensor, source: str) -> dict[str, torch.Tensor]:
    """Official names -> our names. The rotary buffer is checked, then dropped (we recompute it)."""
    state = dict(state)
    inv_freq = state.pop(INV_FREQ_KEY, None)
    if inv_freq is None:
        raise CheckpointMismatch(f"{source} does not match the model: missing 1: {INV_FREQ_KEY}")
    if inv_freq.shape != expected_inv_freq.shape or not torch.allclose(inv_freq.float(), expected_inv_freq, rtol=1e-3):
        raise CheckpointMismatch(f"{source}: {INV_FREQ_KEY} differs from the config's rotary frequencies")
    return {to_module_name(k): _aligned(v) for k, v in state.items()}


def _aligned(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor in 64-byte-aligned memory. safetensors hands out views at arbitrary file offsets, and CPU
    matmul kernels round differently on unaligned data, so without this the same weights gave embeddings
    that differ in the 8th decimal between a .safetensors and a .bin checkpoint."""
    return tensor.clone() if tensor.data_ptr() % ALIGNMENT else tensor
