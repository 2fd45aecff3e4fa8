"""What a failed model download says: one line per cause (no disk space, offline, gated, not found, network),
with what to do about it, and the disk-space check made before a download starts."""

from __future__ import annotations

import errno
import importlib
import shutil
from pathlib import Path

from ..errors import ModelNotAvailable
from .catalogue import CatalogueEntry, human_size

# Room left on the disk after a download, so a model never fills it to the last byte.
DISK_HEADROOM_BYTES = 256 * 1024**2


def download_error(entry: CatalogueEntry, exc: Exception, needed: int | None, cache_dir: Path) -> str:
    """One line saying why downloading `entry` failed and what to do (no space, offline, gated, not found, network)."""
    from huggingface_hub.errors import GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError

    if getattr(exc, "errno", None) == errno.ENOSPC:
        free = shutil.disk_usage(_existing_parent(cache_dir)).free
        return _no_space(entry, needed, free, cache_dir)
    if isinstance(exc, OfflineModeIsEnabled):
        return offline_message(entry, True)
    if isinstance(exc, GatedRepoError):
        return (
            f"{entry.repo_id} is gated: accept its terms on {entry.url} and log in with `hf auth login`, "
            f"then run `python -m heartmula_core download {entry.name}`"
        )
    if isinstance(exc, RepositoryNotFoundError):
        return f"{entry.repo_id} was not found on Hugging Face (renamed or private?); see {entry.url}"
    first_line = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
    return (
        f"could not download {entry.name} from {entry.url} ({first_line}); check the connection and run "
        f"`python -m heartmula_core download {entry.name}` again (a partial download resumes)"
    )


def hub_errors() -> tuple[type[Exception], ...]:
    """What a hub call raises when the network or the hub fails.

    huggingface_hub's own HTTP errors are OSErrors, but the errors of the HTTP client under it (no route,
    DNS failure, refused connection) are not: httpx's (huggingface_hub 1.x) and httpx2's (2.x) derive from
    plain Exception. All of them must become one actionable line, never a traceback.
    """
    errors: list[type[Exception]] = [OSError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).HTTPError)
        except ImportError:
            continue
    return tuple(errors)


def check_disk_space(entry: CatalogueEntry, needed: int, folder: Path) -> None:
    """Raise ModelNotAvailable (how much is needed, how much is free) when `needed` bytes do not fit in `folder`."""
    free = shutil.disk_usage(_existing_parent(folder)).free
    if needed + DISK_HEADROOM_BYTES > free:
        raise ModelNotAvailable(_no_space(entry, needed, free, folder))


def _existing_parent(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (the cache folder may not be made yet)."""
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def offline_message(entry: CatalogueEntry, offline: bool) -> str:
    where = "Hugging Face is offline (HF_HUB_OFFLINE=1)" if offline else "downloads are off"
    return (
        f"{entry.name} ({entry.repo_id}) is not downloaded and {where}: run "
        f"`python -m heartmula_core download {entry.name}` while online, or set HF_HUB_OFFLINE=0"
    )


def _no_space(entry: CatalogueEntry, needed: int | None, free: int, cache: Path) -> str:
    need = human_size(needed) if needed is not None else "more space"
    return (
        f"not enough disk space for {entry.name}: it needs {need}, {human_size(free)} free in {cache}; "
        "free some space or point HF_HUB_CACHE at a bigger disk"
    )
