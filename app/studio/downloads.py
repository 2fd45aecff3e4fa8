"""Model downloads for the Models tab: one download in a thread of its own, and its progress as a share of the
bytes the Hub says the model has.

`Catalogue.plan` gives the total (the Hub's file sizes of the files to fetch) and what the cache already has;
the bytes that arrive are measured in the repository's cache folder (finished blobs and `.incomplete` ones) as
it grows, which is the same count huggingface_hub's own progress bars show, but those only reach a terminal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from heartmula_core.hub.catalogue import folder_size, get_entry, human_size

if TYPE_CHECKING:
    from heartmula_core.hub import Catalogue


def repo_cache_folder(cache_dir: Path, repo_id: str) -> Path:
    """Where huggingface_hub keeps `repo_id` in the cache at `cache_dir` (its documented layout)."""
    return Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))


@dataclass(frozen=True)
class DownloadProgress:
    """How a download is going: bytes of the model present, of how many (None until the plan is known), the
    rate, and the time taken."""

    name: str
    done_bytes: int
    total_bytes: int | None
    rate_bps: float | None
    elapsed_s: float

    @property
    def percent(self) -> float | None:
        """Share of the model's bytes present now, 0-100 (None while the total is not known)."""
        if self.total_bytes is None:
            return None
        return 100.0 * self.done_bytes / self.total_bytes if self.total_bytes else 100.0

    def describe(self) -> str:
        """One line for the page: "Downloading rl: 1.2 GB of 6.0 GB (20%) at 40.0 MB/s (31 s)"."""
        text = f"Downloading {self.name}: {human_size(self.done_bytes)}"
        if self.percent is None:
            text += " so far"
        else:
            text += f" of {human_size(self.total_bytes or 0)} ({self.percent:.0f}%)"
        if self.rate_bps:
            text += f" at {human_size(self.rate_bps)}/s"
        return f"{text} ({self.elapsed_s:.0f} s)"


class DownloadMeter:
    """Samples a growing folder: the bytes added since the meter started, with a recent rate, and once `expect`
    is told the plan, the share of the model present.

    Args:
        name: the catalogue entry being downloaded (for the line).
        folder: the repository's cache folder (it may not exist yet).
        clock: seconds, monotonic (a parameter so the arithmetic can be tested with exact times).
    """

    def __init__(self, name: str, folder: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.folder = Path(folder)
        self.clock = clock
        self.started = clock()
        self.start_bytes = self._bytes()
        self._last: tuple[float, int] = (self.started, self.start_bytes)
        self._plan: tuple[int, int] | None = None  # (total bytes, bytes already complete before the start)

    def _bytes(self) -> int:
        return folder_size(self.folder) if self.folder.is_dir() else 0

    def expect(self, total_bytes: int, have_bytes: int) -> None:
        """The model has `total_bytes`, of which `have_bytes` were complete in the cache before the download."""
        self._plan = (total_bytes, have_bytes)

    def sample(self) -> DownloadProgress:
        """The progress now; the rate is over the time since the previous sample."""
        now, size = self.clock(), self._bytes()
        then, before = self._last
        rate = (size - before) / (now - then) if now > then else None
        self._last = (now, size)
        arrived = max(0, size - self.start_bytes)
        if self._plan is None:
            return DownloadProgress(self.name, arrived, None, rate, now - self.started)
        total, have = self._plan
        # The folder also holds small hub files (refs) and, on a resume, bytes of a half-fetched blob that are
        # not in `have`: the count is capped at the total and reaches it when the last file is complete.
        return DownloadProgress(self.name, min(total, have + arrived), total, rate, now - self.started)


class Download:
    """One catalogue entry downloading in a thread of its own: `progress()` while it runs, `result()` at the end.

    Args:
        catalogue: what plans and fetches (its size source and fetcher are its parameters).
        name: the catalogue entry.
        clock: seconds, monotonic, for the meter.
    """

    def __init__(self, catalogue: Catalogue, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.catalogue = catalogue
        self.name = name
        self.meter = DownloadMeter(name, repo_cache_folder(catalogue.cache_dir, get_entry(name).repo_id), clock)
        self._done = threading.Event()
        self._failure: BaseException | None = None
        self._path: Path | None = None

    def start(self) -> Download:
        threading.Thread(target=self._run, name="heartsong-download", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            plan = self.catalogue.plan(self.name)
            self.meter.expect(plan.total_bytes, plan.have_bytes)
            self._path = self.catalogue.download(self.name, plan).path
        except BaseException as exc:  # handed to whoever asks for the result
            self._failure = exc
        finally:
            self._done.set()

    def progress(self) -> DownloadProgress:
        return self.meter.sample()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the download has ended (well or not) within `timeout` seconds."""
        return self._done.wait(timeout)

    def result(self) -> Path:
        """The model's folder once the download has ended; re-raises its failure."""
        self._done.wait()
        if self._failure is not None:
            raise self._failure
        assert self._path is not None
        return self._path
