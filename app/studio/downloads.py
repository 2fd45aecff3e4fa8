"""Download progress for the Models tab: bytes arriving in the Hugging Face cache, turned into a progress line.

`Catalogue.download` runs huggingface_hub's `snapshot_download`, whose progress bars only reach a terminal;
the page instead measures the repository's folder in the cache (finished blobs and `.incomplete` ones) as it
grows, which is the same byte count those bars show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from heartmula_core.catalogue import folder_size, human_size


def repo_cache_folder(cache_dir: Path, repo_id: str) -> Path:
    """Where huggingface_hub keeps `repo_id` in the cache at `cache_dir` (its documented layout)."""
    return Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))


@dataclass(frozen=True)
class DownloadProgress:
    """How a download is going: bytes fetched since it started, the rate, and the time taken."""

    name: str
    done_bytes: int
    rate_bps: float | None
    elapsed_s: float

    def describe(self) -> str:
        """One line for the page: "Downloading rl: 1.2 GB so far at 40.0 MB/s (31 s)"."""
        text = f"Downloading {self.name}: {human_size(self.done_bytes)} so far"
        if self.rate_bps:
            text += f" at {human_size(self.rate_bps)}/s"
        return f"{text} ({self.elapsed_s:.0f} s)"


class DownloadMeter:
    """Samples a growing folder and reports the bytes added since the meter started, with a recent rate.

    Args:
        name: the catalogue entry being downloaded (for the line).
        folder: the repository's cache folder (it may not exist yet).
        clock: seconds, monotonic (a parameter so the arithmetic can be tested with exact times).
    """

    def __init__(self, name: str, folder: Path, clock=time.monotonic) -> None:
        self.name = name
        self.folder = Path(folder)
        self.clock = clock
        self.started = clock()
        self.start_bytes = self._bytes()
        self._last: tuple[float, int] = (self.started, self.start_bytes)

    def _bytes(self) -> int:
        return folder_size(self.folder) if self.folder.is_dir() else 0

    def sample(self) -> DownloadProgress:
        """The progress now; the rate is over the time since the previous sample."""
        now, size = self.clock(), self._bytes()
        then, before = self._last
        rate = (size - before) / (now - then) if now > then else None
        self._last = (now, size)
        return DownloadProgress(self.name, max(0, size - self.start_bytes), rate, now - self.started)
