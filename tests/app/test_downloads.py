"""Download progress: the bytes arriving in a model's cache folder, as a share of the model's size on the Hub,
turned into the Models tab's line. The Hub here is a local fake handed to the Catalogue (its size source and
fetcher are parameters): nothing touches the network."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from app.studio.downloads import Download, DownloadMeter, repo_cache_folder
from heartmula_core.hub.catalogue import get_entry
from heartmula_core.errors import ModelNotAvailable
from heartmula_core.hub import Catalogue

REVISION = "0123456789abcdef0123456789abcdef01234567"


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
    assert first.describe() == "Downloading rl: 4.0 MB so far at 2.0 MB/s (2 s)"  # no plan: no total
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


def test_with_the_plan_the_line_is_a_share_of_the_total(tmp_path: Path) -> None:
    folder = repo_cache_folder(tmp_path, "HeartMuLa/HeartMuLa-oss-3B")
    clock = Clock()
    meter = DownloadMeter("rl", folder, clock)
    meter.expect(total_bytes=10_000_000, have_bytes=2_000_000)  # one file of the model was already complete
    clock.now += 4
    grow(folder / "blobs" / "abc.incomplete", 3_000_000)
    progress = meter.sample()
    assert (progress.done_bytes, progress.total_bytes, progress.percent) == (5_000_000, 10_000_000, 50.0)
    assert progress.describe() == "Downloading rl: 5.0 MB of 10.0 MB (50%) at 750.0 kB/s (4 s)"
    grow(folder / "refs" / "main", 40 + 6_000_000)  # more than the plan said: never past the total
    assert meter.sample().percent == 100.0


class FakeHub:
    """A repository on a local fake Hub: its file sizes, and a fetcher that writes the files into the cache in
    huggingface_hub's layout (blobs/<hash>.incomplete growing chunk by chunk, then blobs/<hash>, a snapshot link
    and refs/main). After every chunk it waits for the test's go-ahead, so progress can be sampled exactly."""

    def __init__(self, files: dict[str, bytes], chunk: int) -> None:
        self.files = files
        self.chunk = chunk
        self.arrived = threading.Semaphore(0)
        self.proceed = threading.Semaphore(0)
        self.fetched: list[str] = []

    def sizes(self, repo_id: str) -> dict[str, int]:
        return {name: len(data) for name, data in self.files.items()}

    def fetch(self, repo_id: str, *, cache_dir: Path, allow_patterns: list[str] | None) -> str:
        repo = repo_cache_folder(cache_dir, repo_id)
        snapshot = repo / "snapshots" / REVISION
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "blobs").mkdir(exist_ok=True)
        for name, data in self.files.items():
            if allow_patterns is not None and name not in allow_patterns:
                continue
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            if (snapshot / name).is_file():
                continue  # already complete in the cache: nothing to fetch
            partial = blob.with_name(blob.name + ".incomplete")
            for start in range(0, len(data), self.chunk):
                grow_bytes(partial, data[start:start + self.chunk])
                self.arrived.release()
                assert self.proceed.acquire(timeout=10), "the test stopped answering"
            partial.rename(blob)
            (snapshot / name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
            self.fetched.append(name)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(REVISION)
        return str(snapshot)


def grow_bytes(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def gen_files() -> dict[str, bytes]:
    """The "gen" entry's two files (600 and 400 bytes of JSON) and a README the catalogue does not fetch."""
    return {
        "tokenizer.json": json.dumps({"pad": "x" * 589}).encode(),
        "gen_config.json": json.dumps({"ids": "y" * 389}).encode(),
        "README.md": b"r" * 5000,
    }


def follow(download: Download, hub: FakeHub, chunks: int) -> list[float | None]:
    """The download's percentage after each chunk the fake hub writes."""
    seen = []
    for _ in range(chunks):
        assert hub.arrived.acquire(timeout=10), "the fetcher wrote nothing"
        seen.append(download.progress().percent)
        hub.proceed.release()
    return seen


def test_a_download_counts_the_bytes_arriving_against_the_hub_total(tmp_path: Path) -> None:
    files = gen_files()
    assert [len(files[n]) for n in ("tokenizer.json", "gen_config.json")] == [600, 400]
    hub = FakeHub(files, chunk=200)
    catalogue = Catalogue(cache_dir=tmp_path / "hub", offline=False, remote_sizes=hub.sizes, fetch=hub.fetch)
    download = Download(catalogue, "gen").start()
    # 1000 bytes to fetch (the README is not one of the entry's files), 200 at a time.
    assert follow(download, hub, 5) == [20.0, 40.0, 60.0, 80.0, 100.0]
    path = download.result()
    assert (path / "tokenizer.json").read_bytes() == files["tokenizer.json"]
    assert sorted(hub.fetched) == ["gen_config.json", "tokenizer.json"]
    assert download.progress().describe().startswith("Downloading gen: 1.0 kB of 1.0 kB (100%)")


def test_a_resumed_download_starts_from_what_the_cache_has(tmp_path: Path) -> None:
    files = gen_files()
    first = FakeHub({"gen_config.json": files["gen_config.json"]}, chunk=400)
    cache = tmp_path / "hub"
    threading.Thread(target=lambda: first.proceed.release()).start()
    first.fetch(get_entry("gen").repo_id, cache_dir=cache, allow_patterns=None)  # an earlier, partial download

    hub = FakeHub(files, chunk=300)
    catalogue = Catalogue(cache_dir=cache, offline=False, remote_sizes=hub.sizes, fetch=hub.fetch)
    plan = catalogue.plan("gen")
    assert (plan.total_bytes, plan.have_bytes, plan.needed_bytes) == (1000, 400, 600)
    download = Download(catalogue, "gen").start()
    assert follow(download, hub, 2) == [70.0, 100.0]  # 400 + 300, then all
    assert (download.result() / "gen_config.json").is_file() and hub.fetched == ["tokenizer.json"]


def test_a_download_that_cannot_ask_the_hub_fails_with_one_line(tmp_path: Path) -> None:
    def unreachable(repo_id: str) -> dict[str, int]:
        raise OSError("Connection refused")

    catalogue = Catalogue(cache_dir=tmp_path / "hub", offline=False, remote_sizes=unreachable, fetch=FakeHub({}, 1).fetch)
    download = Download(catalogue, "gen").start()
    assert download.wait(10)
    assert download.progress().percent is None  # no plan, no share
    with pytest.raises(ModelNotAvailable, match="could not download gen.*Connection refused"):
        download.result()
