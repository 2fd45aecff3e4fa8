"""Checkpoint loading: (sharded) safetensors into our modules, with a strict key and shape check.

Models are built on the `meta` device and the checkpoint tensors are assigned into them, so a
multi-GB model never sits in memory twice. Each model family maps the official key names onto its
own module names with a `rename`/`convert` step before calling `load_state_dict_strict`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointMismatch, ModelNotAvailable

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """'float32' | 'bfloat16' | 'float16' (or a torch.dtype) -> torch.dtype; anything else is an error."""
    if isinstance(name, torch.dtype):
        if name not in DTYPES.values():
            raise ValueError(f"unsupported dtype {name}; use one of {', '.join(DTYPES)}")
        return name
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype '{name}'; use one of {', '.join(DTYPES)}") from None


def parse_device(name: str | torch.device) -> torch.device:
    """'cpu' | 'cuda' | 'cuda:N' (or a torch.device) -> a torch.device this torch can use; else a ValueError
    naming the problem (a CUDA device on a CPU-only build fails here, not deep inside a model load)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device '{name}'; use cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' asked for, but CUDA is not available here (this torch sees no GPU)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device '{name}' asked for, but only {torch.cuda.device_count()} GPU(s) are visible")
    return device


def checkpoint_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint folder: the single file, or every shard its index names.

    Raises ModelNotAvailable when the folder has neither, or when the index names a shard that is missing
    (an interrupted download).
    """
    folder = Path(folder)
    index = folder / SAFETENSORS_INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as exc:
            raise ModelNotAvailable(f"{index} is not a valid safetensors index ({exc})") from exc
        shards = sorted(set(weight_map.values()))
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise ModelNotAvailable(
                f"{folder} is incomplete: {len(missing)} of {len(shards)} shards missing ({missing[0]}...); "
                "resume the download"
            )
        return [folder / s for s in shards]
    single = folder / SAFETENSORS_FILE
    if single.is_file():
        return [single]
    raise ModelNotAvailable(f"no {SAFETENSORS_FILE} or {SAFETENSORS_INDEX} in {folder}")


def read_safetensors(path: Path, skip: Callable[[str], bool] | None = None) -> dict[str, torch.Tensor]:
    """Read the tensors of one safetensors file onto the CPU, leaving out the keys `skip` returns True for.

    Unread keys cost nothing: safetensors reads each tensor on demand.
    """
    from safetensors import SafetensorError, safe_open

    state: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():
                if skip is None or not skip(key):
                    state[key] = f.get_tensor(key)
    except (SafetensorError, OSError) as exc:
        raise ModelNotAvailable(f"cannot read {path}: {exc}") from exc
    return state


def read_state_dict(folder: Path, skip: Callable[[str], bool] | None = None) -> dict[str, torch.Tensor]:
    """Read every tensor of a checkpoint folder onto the CPU, leaving out the keys `skip` returns True for."""
    state: dict[str, torch.Tensor] = {}
    for path in checkpoint_files(folder):
        state |= read_safetensors(path, skip)
    return state


def tensor_sizes(folder: Path, skip: Callable[[str], bool] | None = None) -> dict[str, int]:
    """Element count of every tensor of a checkpoint folder, from the safetensors headers (no tensor is read),
    leaving out the keys `skip` returns True for."""
    from safetensors import SafetensorError, safe_open

    sizes: dict[str, int] = {}
    for path in checkpoint_files(folder):
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                for key in f.keys():
                    if skip is None or not skip(key):
                        sizes[key] = math.prod(f.get_slice(key).get_shape())
        except (SafetensorError, OSError) as exc:
            raise ModelNotAvailable(f"cannot read {path}: {exc}") from exc
    return sizes


def describe_mismatch(
    expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]], limit: int = 8
) -> str | None:
    """A readable summary of missing / unexpected / mis-shaped keys, or None when they match exactly."""

    def listing(keys: Iterable[str]) -> str:
        keys = sorted(keys)
        more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
        return ", ".join(keys[:limit]) + more

    if found and not expected.keys() & found.keys():  # a folder of another model (--codec given the LM's folder)
        return f"none of its {len(found)} weights are this model's: is it another model's folder?"
    missing = expected.keys() - found.keys()
    unexpected = found.keys() - expected.keys()
    misshaped = [
        f"{k} {tuple(found[k])} != {tuple(expected[k])}"
        for k in sorted(expected.keys() & found.keys())
        if tuple(found[k]) != tuple(expected[k])
    ]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)}: {listing(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)}: {listing(unexpected)}")
    if misshaped:
        more = f" (+{len(misshaped) - limit} more)" if len(misshaped) > limit else ""
        parts.append(f"mis-shaped {len(misshaped)}: {', '.join(misshaped[:limit])}{more}")
    return "; ".join(parts) or None


def load_state_dict_strict(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    dtype: torch.dtype,
    device: torch.device | str,
    source: str = "checkpoint",
) -> nn.Module:
    """Assign `state` into `model` (usually built on `meta`), after an exact key and shape check.

    Every parameter and persistent buffer must be present with the right shape, and nothing else may be.
    Floating tensors are cast to `dtype`; integer and bool buffers keep theirs. Anything still on `meta`
    afterwards (a non-persistent buffer the module forgot to build lazily) is a programming error.

    Returns the model, in eval mode, on `device`.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict(keep_vars=True).items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    problem = describe_mismatch(expected, found)
    if problem:
        raise CheckpointMismatch(f"{source} does not match the model: {problem}")
    device = torch.device(device)
    converted = {
        k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in state.items()
    }
    model.load_state_dict(converted, strict=True, assign=True)
    leftovers = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftovers:
        raise RuntimeError(f"tensors left on meta after loading: {leftovers[:5]}")
    return model.eval()
