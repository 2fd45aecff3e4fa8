"""`load_mulan`: the three-repository MuQ-MuLan layout -> a loaded model and its tokenizer.

The MuQ-MuLan folder holds config.json and ALL the weights. Its config names two sub-models whose
config files are still needed (the audio tower's holds the mel statistics and conformer sizes; the text
model's folder holds the XLM-R config and tokenizer). A name is looked up as an absolute path, next to
the MuQ-MuLan folder (relative to its parent, as the official package resolves it from its working
directory), then through the model catalogue (`hub/resolver.py`, which downloads the small config/tokenizer
repositories when allowed) or, for names it does not list, the Hugging Face cache. Weights in the sub-model folders are never read: the
official package overwrites them with MuQ-MuLan's fine-tuned copies.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ..hub.catalogue import CATALOGUE, CatalogueEntry, Kind
from ..errors import ModelNotAvailable
from ..hub import Catalogue
from ..weights import load_state_dict_strict, parse_dtype
from .checkpoint import convert, read_mulan_state, weights_file
from .config import AudioTowerConfig, MulanConfig, TextModelConfig
from .conformer import rotary_inv_freq
from .mulan import MuLan
from .tokenizer import TOKENIZER_FILE, TextTokenizer

log = logging.getLogger(__name__)
CONFIG_FILE = "config.json"


@dataclass
class LoadedMulan:
    """A MuQ-MuLan model ready for inference, its tokenizer, and a fingerprint of its weights."""

    model: MuLan
    tokenizer: TextTokenizer
    fingerprint: str  # changes when the weights or configs change; keys on-disk embedding caches


def _catalogue_entry(name: str, kinds: tuple[Kind, ...]) -> CatalogueEntry | None:
    """The catalogue entry a config's model name stands for ("xlm-roberta-base" is FacebookAI's repo)."""
    for entry in CATALOGUE.values():
        if entry.kind in kinds and name in (entry.name, entry.repo_id, entry.repo_id.split("/")[-1]):
            return entry
    return None


def resolve_style_folder(spec: str | Path, catalogue: Catalogue | None = None) -> Path:
    """A MuQ-MuLan folder from a path, a catalogue name ("style") or its repo id (downloads when needed)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    entry = _catalogue_entry(str(spec), (Kind.STYLE,))
    if entry is None:
        raise ModelNotAvailable(f"MuQ-MuLan folder not found: {spec} (nor a catalogue name such as 'style')")
    return (catalogue or Catalogue()).resolve(entry.name).path


def _cached_snapshot(name: str, needed: list[str]) -> Path | None:
    """A Hugging Face cache snapshot of `name` holding `needed`, without touching the network."""
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(name, local_files_only=True, allow_patterns=needed))
    except Exception:  # not cached, not a valid repo id, offline: all mean "not here"
        return None
    return folder if all((folder / f).is_file() for f in needed) else None


def resolve_submodel(
    name: str, mulan_folder: Path, needed: list[str], kind: Kind, catalogue: Catalogue | None = None
) -> Path:
    """The folder of a sub-model named in the MuQ-MuLan config that holds the files in `needed`.

    Looked up as an absolute path, next to the MuQ-MuLan folder, then through the catalogue (which
    downloads the small config/tokenizer repository when allowed) or, for other names, the HF cache.
    """
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [mulan_folder.parent / path, mulan_folder.parent / path.name]
    for folder in candidates:
        if all((folder / f).is_file() for f in needed):
            return folder
    entry = _catalogue_entry(name, (kind,))
    if entry is not None:
        return (catalogue or Catalogue()).resolve(entry.name).path
    cached = _cached_snapshot(name, needed)
    if cached is not None:
        return cached
    raise ModelNotAvailable(
        f"MuQ-MuLan needs {', '.join(needed)} of '{name}': put that folder next to {mulan_folder} "
        f"(as {mulan_folder.parent / path.name}) or download '{name}' from Hugging Face"
    )


def _fingerprint(folder: Path, sub_files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != CONFIG_FILE):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    for path in [folder / CONFIG_FILE, *sub_files]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_config(folder: Path, catalogue: Catalogue | None = None) -> tuple[MulanConfig, Path, Path]:
    """The full MulanConfig (with both sub-model configs) and the audio and text sub-model folders."""
    folder = Path(folder)
    cfg = MulanConfig.from_json(folder / CONFIG_FILE)
    audio_dir = resolve_submodel(cfg.audio_model_name, folder, [CONFIG_FILE], Kind.STYLE_AUDIO, catalogue)
    text_dir = resolve_submodel(
        cfg.text_model_name, folder, [CONFIG_FILE, TOKENIZER_FILE], Kind.STYLE_TEXT, catalogue
    )
    audio = AudioTowerConfig.from_json(audio_dir / CONFIG_FILE, cfg.sample_rate)
    text = TextModelConfig.from_json(text_dir / CONFIG_FILE)
    return cfg.with_submodels(audio, text, folder), audio_dir, text_dir


def build_on_meta(cfg: MulanConfig) -> MuLan:
    """The model skeleton without memory, for loading (or for checking key sets against a manifest)."""
    with torch.device("meta"):
        return MuLan(cfg)


def load_mulan(
    folder: str | Path,
    dtype: str | torch.dtype = "float32",
    device: str | torch.device = "cpu",
    catalogue: Catalogue | None = None,
) -> LoadedMulan:
    """Load MuQ-MuLan from its folder (three-repository layout), strictly, in eval mode.

    Args:
        folder: the MuQ-MuLan folder (config.json + model.safetensors or pytorch_model.bin), or a
            catalogue name ("style") / repo id, resolved (and downloaded when needed) by `catalogue`.
        dtype: weights dtype; the mel front end always runs in float32 and latents come out in float32.
        device: where the model runs.
    Raises:
        ModelNotAvailable: a folder or file is missing or unreadable. CheckpointMismatch: wrong tensors.
    """
    folder = resolve_style_folder(folder, catalogue)
    cfg, audio_dir, text_dir = load_config(folder, catalogue)
    assert cfg.audio is not None and cfg.text is not None
    source = str(weights_file(folder) or folder)
    state = convert(read_mulan_state(folder), rotary_inv_freq(cfg.audio.head_dim, cfg.audio.rotary_base), source)
    model = load_state_dict_strict(build_on_meta(cfg), state, dtype=parse_dtype(dtype), device=device, source=source)
    log.info("loaded MuQ-MuLan from %s (%s, %s)", folder, dtype, device)
    tokenizer = TextTokenizer(text_dir / TOKENIZER_FILE, cfg.text.pad_token_id)
    sub_files = [audio_dir / CONFIG_FILE, text_dir / CONFIG_FILE, text_dir / TOKENIZER_FILE]
    return LoadedMulan(model, tokenizer, _fingerprint(folder, sub_files))
