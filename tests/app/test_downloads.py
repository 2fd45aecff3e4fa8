"""Download progress: the bytes arriving in a model's cache folder, turned into the Models tab's line."""

from __future__ import annotations

from pathlib import Path

from app.studio.downloads import DownloadMeter, repo_cache_folder


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def grow(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(b"\0" * size)


def test_the_meter_counts_new_bytes_finished_or_not_and_their_rate(tmp_path: Path) -> None:
    folder = repo_cache_folder(tmp_path, "HeartMuLa/HeartMuLa-oss-3B")
    assert folder == tmp_path / "models--HeartMuLa--HeartMuLa-oss-3B"
    grow(folder / "blobs" / "old", 1000)  # already there before the download: not counted
    clock = Clock()
    meter = DownloadMeter("rl", folder, clock)
    clock.now += 2
    grow(folder / "blobs" / "abc.incomplete", 4_000_000)  # a file still arriving counts as it grows
    first = meter.sample()
    assert first.done_bytes == 4_000_000 and first.rate_bps == 2_000_000 and first.elapsed_s == 2
    assert first.describe() == "Downloading rl: 4.0 MB so far at 2.0 MB/s (2 s)"
    clock.now += 1
    grow(folder / "blobs" / "abc.incomplete", 1_000_000)
    second = meter.sample()
    assert second.done_bytes == 5_000_000 and second.rate_bps == 1_000_000  # the rate since the last sample


def test_a_folder_that_does_not_exist_yet_is_nothing_done(tmp_path: Path) -> None:
    clock = Clock()
    meter = DownloadMeter("codec", tmp_path / "models--x--y", clock)
    clock.now += 1
    progress = meter.sample()
    assert progress.done_bytes == 0 and progress.rate_bps == 0
    assert progress.describe() == "Downloading codec: 0 B so far (1 s)"
