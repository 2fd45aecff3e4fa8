"""The model catalogue: every official checkpoint Heartsong can use, in one table.

A renamed Hugging Face repository is a one-line change here. Each entry says what makes a copy of the model
complete (the files it must hold, and how its weights are stored), what to download (so a 2.5 GB weight file
we never read is not fetched), and which folder names stand for it in the official `ckpt/` layout that the
HeartMuLa README uses:

    ckpt/
    ├── HeartMuLa-oss-3B/        (the LM; the official README downloads the RL release here too)
    ├── HeartCodec-oss/          (the codec; likewise the 2026-01-23 release)
    ├── tokenizer.json           (HeartMuLaGen)
    └── gen_config.json          (HeartMuLaGen)

Resolving and downloading live in `resolver.py`; this module is data and the completeness check only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import InvalidRequest, ModelNotAvailable


class Kind(str, Enum):
    """What a catalogue entry is for."""

    LM = "lm"
    CODEC = "codec"
    GEN = "gen"
    TRANSCRIPTOR = "transcriptor"
    STYLE = "style"
    STYLE_AUDIO = "style-audio"
    STYLE_TEXT = "style-text"


class Weights(str, Enum):
    """How an entry stores its weights (what the completeness check asks for)."""

    SAFETENSORS = "safetensors"  # model.safetensors, or an index and every shard it names
    SAFETENSORS_OR_BIN = "safetensors-or-bin"  # as above, or a single pytorch_model.bin
    NONE = "none"  # configuration / tokenizer only


PYTORCH_BIN = "pytorch_model.bin"
APACHE = "Apache-2.0"
CC_BY_NC = "CC BY-NC 4.0"


@dataclass(frozen=True)
class CatalogueEntry:
    """One downloadable model.

    Attributes:
        name: the short name users type (`download rl`).
        repo_id: the Hugging Face repository.
        kind: what it is for.
        description: one line for `models`.
        files: files that must be present besides the weights.
        weights: how the weights are stored.
        allow_patterns: what `snapshot_download` fetches (None = the whole repository).
        ckpt_names: folder names (relative to an official `ckpt/` root; "" is the root itself) that hold this
            model, most specific first.
        companions: entries this one cannot work without (downloaded with it).
        licence: the weights' licence.
        licence_notice: logged once, when the weights are first downloaded.
    """

    name: str
    repo_id: str
    kind: Kind
    description: str
    files: tuple[str, ...]
    weights: Weights
    allow_patterns: tuple[str, ...] | None
    ckpt_names: tuple[str, ...]
    companions: tuple[str, ...] = ()
    licence: str = APACHE
    licence_notice: str | None = None
    default: bool = False

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"


_MODEL_FILES = ("*.json", "*.safetensors", "*.md")
_MUQ_NOTICE = (
    "MuQ-MuLan weights are licensed CC BY-NC 4.0: non-commercial use only, with attribution "
    "(https://huggingface.co/OpenMuQ/MuQ-MuLan-large)"
)

_ENTRIES = (
    CatalogueEntry(
        "rl", "HeartMuLa/HeartMuLa-RL-oss-3B-20260123", Kind.LM,
        "HeartMuLa 3B LM, RL-tuned release of 2026-01-23 (default)",
        ("config.json",), Weights.SAFETENSORS, _MODEL_FILES,
        ("HeartMuLa-RL-oss-3B-20260123", "HeartMuLa-oss-3B"), default=True,
    ),
    CatalogueEntry(
        "hny", "HeartMuLa/HeartMuLa-oss-3B-happy-new-year", Kind.LM,
        "HeartMuLa 3B LM, happy-new-year release (wider language coverage)",
        ("config.json",), Weights.SAFETENSORS, _MODEL_FILES,
        ("HeartMuLa-oss-3B-happy-new-year",),
    ),
    CatalogueEntry(
        "base", "HeartMuLa/HeartMuLa-oss-3B", Kind.LM,
        "HeartMuLa 3B LM, first release",
        ("config.json",), Weights.SAFETENSORS, _MODEL_FILES,
        ("HeartMuLa-oss-3B",),
    ),
    CatalogueEntry(
        "codec", "HeartMuLa/HeartCodec-oss-20260123", Kind.CODEC,
        "HeartCodec decoder, release of 2026-01-23 (default)",
        ("config.json",), Weights.SAFETENSORS, _MODEL_FILES,
        ("HeartCodec-oss-20260123", "HeartCodec-oss"), default=True,
    ),
    CatalogueEntry(
        "codec-base", "HeartMuLa/HeartCodec-oss", Kind.CODEC,
        "HeartCodec decoder, first release",
        ("config.json",), Weights.SAFETENSORS, _MODEL_FILES,
        ("HeartCodec-oss",),
    ),
    CatalogueEntry(
        "gen", "HeartMuLa/HeartMuLaGen", Kind.GEN,
        "HeartMuLa tokenizer and generation ids",
        ("tokenizer.json", "gen_config.json"), Weights.NONE, ("tokenizer.json", "gen_config.json"),
        ("HeartMuLaGen", ""), default=True,
    ),
    CatalogueEntry(
        "transcriptor", "HeartMuLa/HeartTranscriptor-oss", Kind.TRANSCRIPTOR,
        "HeartTranscriptor (Whisper) lyrics transcription",
        ("config.json",), Weights.SAFETENSORS, ("*.json", "*.safetensors", "*.txt", "*.md"),
        ("HeartTranscriptor-oss",),
    ),
    CatalogueEntry(
        "style", "OpenMuQ/MuQ-MuLan-large", Kind.STYLE,
        "MuQ-MuLan style encoder (reference audio or text -> style vector)",
        ("config.json",), Weights.SAFETENSORS_OR_BIN, ("config.json", "model.safetensors", PYTORCH_BIN, "*.md"),
        ("MuQ-MuLan-large",), companions=("style-audio", "style-text"),
        licence=CC_BY_NC, licence_notice=_MUQ_NOTICE,
    ),
    CatalogueEntry(
        "style-audio", "OpenMuQ/MuQ-large-msd-iter", Kind.STYLE_AUDIO,
        "MuQ audio tower config (mel statistics, conformer sizes) for the style encoder",
        ("config.json",), Weights.NONE, ("config.json",),
        ("MuQ-large-msd-iter",), licence=CC_BY_NC,
    ),
    CatalogueEntry(
        "style-text", "FacebookAI/xlm-roberta-base", Kind.STYLE_TEXT,
        "XLM-RoBERTa config and tokenizer for the style encoder's text tower",
        ("config.json", "tokenizer.json"), Weights.NONE,
        ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
        ("xlm-roberta-base",), licence="MIT",
    ),
)

CATALOGUE: dict[str, CatalogueEntry] = {e.name: e for e in _ENTRIES}
LM_VARIANTS: tuple[str, ...] = tuple(e.name for e in _ENTRIES if e.kind is Kind.LM)
CODEC_VARIANTS: tuple[str, ...] = tuple(e.name for e in _ENTRIES if e.kind is Kind.CODEC)
DEFAULT_LM = "rl"
DEFAULT_CODEC = "codec"
DEFAULT_GEN = "gen"
DEFAULT_STYLE = "style"


def get_entry(name: str) -> CatalogueEntry:
    """The entry called `name`; an unknown name is an InvalidRequest listing the known ones."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise InvalidRequest(f"unknown model '{name}'; choose from {', '.join(CATALOGUE)}") from None


def with_companions(names: list[str]) -> list[str]:
    """`names` plus every companion they need, each once, in order."""
    out: list[str] = []
    for name in names:
        for n in (name, *get_entry(name).companions):
            if n not in out:
                out.append(n)
    return out


def find_problem(entry: CatalogueEntry, folder: Path) -> str | None:
    """Why `folder` is not a complete copy of `entry` (a short phrase), or None when it is complete."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} is not a folder"
    missing = [f for f in entry.files if not (folder / f).is_file()]
    if missing:
        return f"{', '.join(missing)} missing"
    for name in entry.files:
        if name.endswith(".json"):
            try:
                json.loads((folder / name).read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
                return f"{name} is unreadable ({exc.__class__.__name__})"
    if entry.weights is Weights.NONE:
        return None
    if entry.weights is Weights.SAFETENSORS_OR_BIN and (folder / PYTORCH_BIN).is_file():
        return None
    from ..weights import checkpoint_files  # imports torch: keep `--help` and `models` listing cheap

    try:
        checkpoint_files(folder)
    except ModelNotAvailable as exc:
        # checkpoint_files speaks of the folder already; keep its reason without the advice part
        return str(exc).split("; resume")[0]
    return None


def folder_size(folder: Path) -> int:
    """Bytes used by the files under `folder`, following the Hugging Face cache's symlinks, each blob once."""
    seen: set[Path] = set()
    total = 0
    for path in Path(folder).rglob("*"):
        try:
            real = path.resolve()
            if real in seen or not real.is_file():
                continue
            seen.add(real)
            total += real.stat().st_size
        except OSError:
            continue
    return total


def human_size(n: float) -> str:
    """1234567 -> '1.2 MB' (decimal units, as disk tools and the Hub show them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
