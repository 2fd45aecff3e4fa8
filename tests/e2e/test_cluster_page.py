"""The page on a Ray cluster: the real app (`python -m app`) with `HEARTSONG_RAY_ADDRESS=local` (a one-worker
cluster of this computer, started with the app), driven by Chromium. A long song is made on the worker and heard
live while it is made; the page's Stop reaches the worker (the same worker process then makes the next song, which
it could not while still holding the stopped one); the next song's takes play and are kept in History.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.studio.history import History
from tests.cluster.conftest import process_table, require_ray, worker_pids

from .conftest import running_app
from .test_compose import KEPT, TIMEOUT_MS, fill_song
from .test_webapp import wait_playable

pytestmark = pytest.mark.timeout(600)
IDLE_WINDOW_S = 3
IDLE_SHARE = 0.2  # of one core: a worker between songs answers health checks; one making a song computes


@pytest.fixture(scope="module")
def cluster_app(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app on its own one-worker local cluster, with a data folder of its own: (its URL, that folder)."""
    require_ray()
    data = tmp_path_factory.mktemp("cluster-data")
    env = app_env | {"HEARTSONG_DATA_DIR": str(data), "HEARTSONG_RAY_ADDRESS": "local", "HEARTSONG_RAY_REPLICAS": "1",
                     "HEARTSONG_THREADS": "1"}
    with running_app(env, tmp_path_factory.mktemp("cluster-log") / "app.log") as url:
        yield url, data


def app_workers(url: str) -> list[int]:
    """The music workers the app at `url` started (its `local` cluster's)."""
    port = url.rstrip("/").rsplit(":", 1)[1]
    for pid, (command, _) in process_table().items():
        if f"-m app --port {port} " in command:
            return worker_pids(pid)
    raise AssertionError(f"no app process serves {url}")


def cpu_seconds(pid: int) -> float:
    """The CPU time process `pid` has used so far (user and system)."""
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_page_on_a_cluster_plays_live_stops_the_worker_and_keeps_the_next_song(browser, cluster_app) -> None:
    url, data = cluster_app
    history = History(data)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        page.goto(url)
        page.get_by_role("tab", name="Create").wait_for()
        fill_song(page, "[verse]\nthe worker sings of tulips\n[chorus]\nla la", "pop", 150, 1)
        page.locator("#create-compose").click()
        page.locator("#create-status").get_by_text("frames").wait_for(timeout=TIMEOUT_MS)  # tokens on the worker
        workers = app_workers(url)
        assert len(workers) == 1, workers
        # The live player gets the worker's first decoded window while the song is still being made.
        page.wait_for_function("() => { const a = document.querySelector('#create-live-audio');"
                               " return !!a && a.readyState >= 2 && a.duration > 0; }", timeout=TIMEOUT_MS)
        assert not KEPT.search(page.locator("#create-status").inner_text())  # still being made

        page.locator("#create-stop").click()
        page.locator("#create-status").get_by_text("Stopped").wait_for(timeout=TIMEOUT_MS)
        assert not history.search("tulips")
        # The worker let go of the song: it idles (a worker still making it would use most of a core).
        page.wait_for_timeout(1000)  # its last frame or codec window ends
        before = cpu_seconds(workers[0])
        page.wait_for_timeout(IDLE_WINDOW_S * 1000)
        assert cpu_seconds(workers[0]) - before < IDLE_SHARE * IDLE_WINDOW_S, "the worker went on with the song"

        fill_song(page, "[verse]\nthe worker sings of poppies\n[chorus]\nla la la", "folk", 3, 2)
        page.locator("#create-compose").click()
        for take in (1, 2):
            wait_playable(page, f"#take-{take}-audio", 2.0, TIMEOUT_MS)
        page.locator("#create-status").get_by_text(KEPT).wait_for(timeout=TIMEOUT_MS)
        # The one worker made it: the Stop freed it, and it was not replaced (the same process).
        assert app_workers(url) == workers
        kept = history.search("poppies")
        assert len(kept) == 1 and len(kept[0].takes) == 2 and [s.id for s in history.search()] == [kept[0].id]
        assert all(os.path.getsize(take.audio) > 0 for take in kept[0].takes)
    finally:
        context.close()
