"""What the page says about the models: which are here, what a song still needs and how big it is, whether one
folder serves every LM variant, and getting the missing ones one after another with progress.

Sizes of missing models come from the Hub's file list (one request per model, remembered for the session); with
Hugging Face offline or unreachable they are unknown, and the page says so rather than guessing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from heartmula_core.hub.catalogue import CATALOGUE, DEFAULT_CODEC, DEFAULT_GEN, LM_VARIANTS, human_size
from heartmula_core.errors import ModelNotAvailable
from heartmula_core.hub import Catalogue, EntryStatus

from .downloads import Download, DownloadProgress
from .errors import StudioError

log = logging.getLogger(__name__)


class ModelsMissing(StudioError):
    """A song needs models that are not on this computer (the message names them, their size and the way to
    get them)."""


@dataclass(frozen=True)
class ModelRow:
    """One model as the page shows it."""

    name: str
    what: str
    state: str  # "present" | "partial" | "missing"
    size_bytes: int | None  # on disk when present, on the Hub when missing (None: unknown)
    where: Path | None
    note: str = ""  # e.g. "one folder serves hny, rl and base"

    @property
    def size(self) -> str:
        return human_size(self.size_bytes) if self.size_bytes else ("unknown" if self.state != "present" else "")


class HubSizes:
    """The Hub's size of each model, asked once per model for the session (None when it cannot be asked)."""

    def __init__(self) -> None:
        self._sizes: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def get(self, catalogue: Catalogue, name: str) -> int | None:
        with self._lock:
            if name in self._sizes:
                return self._sizes[name]
        try:
            size: int | None = catalogue.plan(name).total_bytes
        except ModelNotAvailable as exc:
            log.info("size of %s unknown: %s", name, exc)
            size = None
        with self._lock:
            self._sizes[name] = size
        return size


def song_model_names(variant: str) -> list[str]:
    """What a song made with LM `variant` needs: the LM, the tokenizer and generation ids, the codec."""
    return [variant, DEFAULT_GEN, DEFAULT_CODEC]


def shared_lm_folder(catalogue: Catalogue) -> Path | None:
    """The folder that serves every LM variant (an LM folder of your own, or the official
    `ckpt/HeartMuLa-oss-3B/`), else None: then the variant choice picks between different releases."""
    folders = set()
    for variant in LM_VARIANTS:
        try:
            found = catalogue.locate(variant)
        except ModelNotAvailable:
            return None
        if found is None:
            return None
        folders.add(found.path)
    return folders.pop() if len(folders) == 1 else None


def model_rows(catalogue: Catalogue, sizes: HubSizes, names: list[str] | None = None) -> list[ModelRow]:
    """A row per catalogue entry (or per entry of `names`), missing ones with their size on the Hub."""
    shared = shared_lm_folder(catalogue)
    rows = []
    for name in names or list(CATALOGUE):
        status: EntryStatus = catalogue.status(name)
        size = status.size_bytes if status.state == "present" else sizes.get(catalogue, name)
        note = ""
        if shared is not None and name in LM_VARIANTS:
            note = f"one folder serves {', '.join(LM_VARIANTS)}"
        rows.append(ModelRow(name, status.entry.description, status.state, size, status.path, note))
    return rows


def download_size(rows: list[ModelRow]) -> str | None:
    """The size of the rows not present ("22.4 GB"), or None when any of them is unknown (or none is missing)."""
    absent = [r for r in rows if r.state != "present"]
    if not absent or not all(r.size_bytes for r in absent):
        return None
    return human_size(sum(r.size_bytes or 0 for r in absent))


def missing_message(rows: list[ModelRow], offline: bool) -> str:
    """What to say when a song needs `rows` that are not all present (the caller checks that some are not)."""
    absent = [r for r in rows if r.state != "present"]
    names = " ".join(r.name for r in absent)
    total = download_size(rows)
    size = f" ({total})" if total else ""
    listed = ", ".join(f"{r.name}" + (" (partly downloaded)" if r.state == "partial" else "") for r in absent)
    if offline:
        return (f"This song needs {listed}{size}, which this computer does not have, and Hugging Face is set "
                f"offline here (HF_HUB_OFFLINE=1): download them where it is not (`python -m heartmula_core "
                f"download {names}`), or point HEARTSONG_CKPT_DIR at a folder that has them.")
    return (f"This song needs {listed}{size}, which this computer does not have yet: “Get the models” at the top of "
            f"Create downloads them (or run `python -m heartmula_core download {names}`).")


def download_all(catalogue: Catalogue, names: list[str], poll_s: float = 0.5) -> Iterator[tuple[int, DownloadProgress]]:
    """Download `names` one after another; yields (which, 0-based; its progress) every `poll_s` seconds.

    Raises the first failure (`ModelNotAvailable`, one line), logged on the server's terminal too.
    """
    for index, name in enumerate(names):
        job = Download(catalogue, name).start()
        while not job.wait(poll_s):
            yield index, job.progress()
        try:
            job.result()
        except Exception as exc:
            log.warning("download of %s failed: %s", name, exc)
            raise
        yield index, job.progress()
