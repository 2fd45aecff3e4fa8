"""Finding the official models on this machine, or downloading them.

Resolution order for one catalogue entry (the table is in `catalogue.py`):

1. an explicit folder (a CLI flag such as `--lm DIR`, or a setting);
2. an official `ckpt/` folder, in the layout the HeartMuLa README uses;
3. the Hugging Face cache (`HF_HOME` / `HF_HUB_CACHE` are respected);
4. a download with `huggingface_hub.snapshot_download` (its progress bar goes to stderr).

A download is planned first (`Catalogue.plan`: the files to fetch and their bytes, from the Hub's file
metadata), so the disk space is checked and a caller can show the bytes arriving as a share of the total. The
size source and the fetcher are parameters of `Catalogue`, so both can be replaced (tests use local fakes).

Every folder is checked for completeness (config, every shard its index names) before it is handed out, and
each failure is one `ModelNotAvailable` line that says what to do: download while online, resume a partial
download, or free disk space. Nothing here touches the network unless a download is really needed.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import InvalidRequest, ModelNotAvailable
from .catalogue import (
    CATALOGUE,
    DEFAULT_CODEC,
    DEFAULT_GEN,
    DEFAULT_LM,
    PYTORCH_BIN,
    CatalogueEntry,
    Kind,
    Weights,
    find_problem,
    folder_size,
    get_entry,
    human_size,
)
from .download_errors import check_disk_space, download_error, hub_errors, offline_message

log = logging.getLogger(__name__)

__all__ = ["Catalogue", "DownloadPlan", "EntryStatus", "MusicModels", "Resolved", "Source"]

RemoteSizes = Callable[[str], Mapping[str, int]]
"""repo id -> {path of each file in the repository: its size in bytes}."""
Fetch = Callable[..., str]
"""`fetch(repo_id, cache_dir=..., allow_patterns=...)` -> the snapshot folder, as `snapshot_download` does."""


def hub_file_sizes(repo_id: str) -> dict[str, int]:
    """The sizes of a repository's files, from the Hub's metadata (one request, no file is fetched)."""
    from huggingface_hub import HfApi

    info = HfApi().model_info(repo_id, files_metadata=True)
    return {s.rfilename: int(s.size or 0) for s in (info.siblings or [])}


def hub_snapshot(repo_id: str, *, cache_dir: Path, allow_patterns: list[str] | None) -> str:
    """Fetch (or resume, or confirm) a repository's files into the Hugging Face cache."""
    from huggingface_hub import snapshot_download

    return str(snapshot_download(repo_id, cache_dir=cache_dir, allow_patterns=allow_patterns))


class Source(str, Enum):
    """Where a resolved model was found."""

    FOLDER = "folder"
    CKPT = "ckpt"
    CACHE = "cache"
    DOWNLOAD = "download"


@dataclass(frozen=True)
class Resolved:
    """A complete copy of a catalogue entry on this machine."""

    entry: CatalogueEntry
    path: Path
    source: Source


@dataclass(frozen=True)
class EntryStatus:
    """What `models` shows for one entry: present (complete), partial, or missing; where; how big."""

    entry: CatalogueEntry
    state: str  # "present" | "partial" | "missing"
    path: Path | None
    source: Source | None
    size_bytes: int | None
    problem: str | None = None


@dataclass(frozen=True)
class DownloadPlan:
    """What downloading one entry fetches: its file patterns, the bytes of those files, and the bytes of them
    not in the cache yet."""

    entry: CatalogueEntry
    patterns: tuple[str, ...] | None  # None: every file of the repository
    total_bytes: int
    needed_bytes: int

    @property
    def have_bytes(self) -> int:
        """Bytes of the planned files already complete in the cache."""
        return self.total_bytes - self.needed_bytes


@dataclass(frozen=True)
class MusicModels:
    """The three folders a song needs: the LM, the tokenizer + generation ids, and the codec."""

    lm: Path
    gen: Path
    codec: Path


class Catalogue:
    """Resolves catalogue entries to complete folders, downloading them when allowed.

    Args:
        ckpt_dir: an official `ckpt/` folder to look in (None: do not look for one).
        cache_dir: the Hugging Face hub cache (None: huggingface_hub's own, which follows HF_HOME/HF_HUB_CACHE).
        offline: never touch the network (None: follow HF_HUB_OFFLINE).
        folders: explicit folders per entry name or kind (`{"lm": ...}` or `{"rl": ...}`), which win over everything.
        remote_sizes: where a download plan gets the repository's file sizes (None: the Hub's metadata).
        fetch: what downloads a repository into the cache (None: huggingface_hub's `snapshot_download`).
    """

    def __init__(
        self,
        *,
        ckpt_dir: Path | str | None = None,
        cache_dir: Path | str | None = None,
        offline: bool | None = None,
        folders: Mapping[str, Path | str | None] | None = None,
        remote_sizes: RemoteSizes | None = None,
        fetch: Fetch | None = None,
    ) -> None:
        from huggingface_hub import constants

        self.ckpt_dir = Path(ckpt_dir).expanduser() if ckpt_dir else None
        self.cache_dir = Path(cache_dir or constants.HF_HUB_CACHE).expanduser()
        self.offline = constants.HF_HUB_OFFLINE if offline is None else offline
        self.folders = {k: Path(v).expanduser() for k, v in (folders or {}).items() if v}
        self.remote_sizes = remote_sizes or hub_file_sizes
        self.fetch = fetch or hub_snapshot

    # ---- looking (never downloads) -------------------------------------------------------------------

    def explicit_folder(self, entry: CatalogueEntry) -> Path | None:
        """The folder the caller named for this entry (by its name first, then by its kind)."""
        return self.folders.get(entry.name) or self.folders.get(entry.kind.value)

    def ckpt_folder(self, entry: CatalogueEntry) -> Path | None:
        """The first folder of the official `ckpt/` layout that holds something for this entry."""
        if self.ckpt_dir is None:
            return None
        for name in entry.ckpt_names:
            folder = self.ckpt_dir / name if name else self.ckpt_dir
            if folder.is_dir() and any((folder / f).exists() for f in entry.files):
                return folder
        return None

    def cache_folder(self, entry: CatalogueEntry) -> tuple[Path | None, bool]:
        """(snapshot folder in the Hugging Face cache or None, whether the hub itself called it incomplete)."""
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            path = snapshot_download(
                entry.repo_id, cache_dir=self.cache_dir, local_files_only=True, allow_patterns=_patterns(entry)
            )
        except LocalEntryNotFoundError as exc:
            # Recent huggingface_hub versions know the file list of a partial snapshot and say so.
            partial = getattr(exc, "snapshot_path", None)
            return (Path(partial), True) if partial else (None, False)
        return Path(path), False

    def locate(self, name: str) -> Resolved | None:
        """The complete local copy of `name` (explicit folder, ckpt/, cache, in that order), or None.

        Raises ModelNotAvailable when the copy that would be used is incomplete, with what to do about it.
        """
        entry = get_entry(name)
        for folder, source in ((self.explicit_folder(entry), Source.FOLDER), (self.ckpt_folder(entry), Source.CKPT)):
            if folder is None:
                continue
            problem = find_problem(entry, folder)
            if problem:
                raise ModelNotAvailable(_incomplete_local(entry, folder, source, problem))
            return Resolved(entry, folder, source)
        folder, partial = self.cache_folder(entry)
        if folder is None:
            return None
        problem = find_problem(entry, folder) or ("files missing" if partial else None)
        if problem:
            raise ModelNotAvailable(
                f"{entry.name} ({entry.repo_id}) is only partly downloaded ({problem}) in {folder}: "
                f"resume it with `python -m heartmula_core download {entry.name}`"
            )
        return Resolved(entry, folder, Source.CACHE)

    def status(self, name: str) -> EntryStatus:
        """Present, partial or missing, where, and the size on disk. Never touches the network."""
        entry = get_entry(name)
        try:
            found = self.locate(name)
        except ModelNotAvailable as exc:
            folder = self.explicit_folder(entry) or self.ckpt_folder(entry) or self.cache_folder(entry)[0]
            size = folder_size(folder) if folder and folder.is_dir() else None
            return EntryStatus(entry, "partial", folder, None, size, str(exc))
        if found is None:
            return EntryStatus(entry, "missing", None, None, None)
        return EntryStatus(entry, "present", found.path, found.source, folder_size(found.path))

    # ---- resolving (downloads when it must) ------------------------------------------------------------

    def resolve(self, name: str, *, download: bool = True) -> Resolved:
        """A complete folder for `name`, downloading it (with its companions' check) when allowed and needed.

        A partial download in the cache is resumed when online. Raises ModelNotAvailable, in one line, when
        the model cannot be had.
        """
        entry = get_entry(name)
        try:
            found = self.locate(name)
        except ModelNotAvailable:
            # Only a partial cache download can be repaired by downloading: explicit and ckpt/ folders are the
            # user's, and silently fetching gigabytes beside them would hide their mistake.
            if not download or self.offline or self.explicit_folder(entry) or self.ckpt_folder(entry):
                raise
            found = None
        if found is not None:
            return found
        if self.offline or not download:
            raise ModelNotAvailable(offline_message(entry, self.offline))
        return self.download(name)

    def music_models(
        self,
        variant: str = DEFAULT_LM,
        codec: str = DEFAULT_CODEC,
        *,
        download: bool = True,
    ) -> MusicModels:
        """Resolve the LM `variant`, the tokenizer/gen config and the `codec` for a song."""
        if get_entry(variant).kind is not Kind.LM:
            raise InvalidRequest(f"'{variant}' is not an LM variant")
        if get_entry(codec).kind is not Kind.CODEC:
            raise InvalidRequest(f"'{codec}' is not a codec")
        return MusicModels(
            lm=self.resolve(variant, download=download).path,
            gen=self.resolve(DEFAULT_GEN, download=download).path,
            codec=self.resolve(codec, download=download).path,
        )

    # ---- downloading -----------------------------------------------------------------------------------

    def plan(self, name: str) -> DownloadPlan:
        """What downloading `name` would fetch, and how much of it the cache already has (asks the Hub for the
        file sizes; fetches nothing). Raises ModelNotAvailable when offline or when the Hub cannot be asked."""
        entry = get_entry(name)
        if self.offline:
            raise ModelNotAvailable(offline_message(entry, True))
        try:
            remote = dict(self.remote_sizes(entry.repo_id))
        except hub_errors() as exc:
            raise ModelNotAvailable(download_error(entry, exc, None, self.cache_dir)) from exc
        patterns = _patterns(entry, remote)
        wanted = {path: size for path, size in remote.items() if _matches(path, patterns)}
        have, _ = self.cache_folder(entry)
        present = 0 if have is None else sum((have / p).stat().st_size for p in wanted if (have / p).is_file())
        total = sum(wanted.values())
        return DownloadPlan(entry, None if patterns is None else tuple(patterns), total, max(0, total - present))

    def download(self, name: str, plan: DownloadPlan | None = None) -> Resolved:
        """Download (or resume, or confirm) `name` into the Hugging Face cache and check it.

        `plan` is `self.plan(name)` when the caller already made it (to show progress against its total).
        Checks the free disk space against the planned bytes first. Shows huggingface_hub's progress bars on
        stderr. Raises ModelNotAvailable (offline, unreachable, gated, no space).
        """
        entry = get_entry(name)
        plan = plan or self.plan(name)
        check_disk_space(entry, plan.needed_bytes, self.cache_dir)
        if entry.licence_notice and plan.needed_bytes > 0:
            log.warning(entry.licence_notice)
        log.info("downloading %s (%s, %s)", entry.name, entry.repo_id, human_size(plan.needed_bytes))
        patterns = None if plan.patterns is None else list(plan.patterns)
        try:
            path = Path(self.fetch(entry.repo_id, cache_dir=self.cache_dir, allow_patterns=patterns))
        except hub_errors() as exc:
            raise ModelNotAvailable(download_error(entry, exc, plan.needed_bytes, self.cache_dir)) from exc
        problem = find_problem(entry, path)
        if problem:
            raise ModelNotAvailable(
                f"{entry.repo_id} downloaded to {path} but is not a complete {entry.kind.value} ({problem}); "
                "the repository may have changed layout"
            )
        return Resolved(entry, path, Source.DOWNLOAD)


# ---- helpers -----------------------------------------------------------------------------------------------


def _patterns(entry: CatalogueEntry, remote: Mapping[str, int] | None = None) -> list[str] | None:
    """What to fetch. A repository with both safetensors and a .bin only needs the safetensors."""
    if entry.allow_patterns is None:
        return None
    patterns = list(entry.allow_patterns)
    if (
        entry.weights is Weights.SAFETENSORS_OR_BIN
        and remote is not None
        and any(p.endswith(".safetensors") for p in remote)
    ):
        patterns = [p for p in patterns if p != PYTORCH_BIN]
    return patterns


def _matches(path: str, patterns: list[str] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatch(path, p) for p in patterns)


def _incomplete_local(entry: CatalogueEntry, folder: Path, source: Source, problem: str) -> str:
    how = "the folder you named" if source is Source.FOLDER else "the ckpt/ folder"
    if not folder.exists():  # a typo, not a download to finish
        return f"{folder} ({how} for {entry.name}) does not exist"
    return (
        f"{folder} ({how} for {entry.name}) is incomplete: {problem}; finish it with "
        f"`hf download {entry.repo_id} --local-dir {folder}`, or move it away to use the Hugging Face cache"
    )
