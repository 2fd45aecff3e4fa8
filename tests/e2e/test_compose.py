"""Compose in the browser with the tiny checkpoints: two takes that play, kept in History; Stop keeps nothing."""

from __future__ import annotations

import pytest

from app.studio.history import History

from .conftest import screenshot
from .test_webapp import open_tab, wait_playable
from .test_write import field, set_tick

pytestmark = pytest.mark.timeout(420)
TIMEOUT_MS = 180_000
LYRIC_WORD = "marigolds"


def fill_song(page, lyrics: str, tags: str, seconds: int, variants: int) -> None:
    for name in ("description", "title", "lyrics", "tags"):
        set_tick(page, name, False)
    field(page, "title").fill("Garden Song")
    field(page, "description").fill("a small happy song about a garden")
    field(page, "lyrics").fill(lyrics)
    field(page, "tags").fill(tags)
    page.locator("#create-seconds input[type=number]").fill(str(seconds))
    page.locator("#create-variants input[type=number]").fill(str(variants))
    page.locator("#create-seed input").fill("1")


def test_compose_two_takes_that_play_then_find_load_and_delete_them(page, app_env) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    before = len(history)
    fill_song(page, f"[verse]\n{LYRIC_WORD} in the morning\n[chorus]\nla la la", "pop,happy", 3, 2)
    page.locator("#create-compose").click()
    for take in (1, 2):
        wait_playable(page, f"#take-{take}-audio", 2.0, TIMEOUT_MS)
    page.locator("#take-2-mp3").wait_for(timeout=TIMEOUT_MS)  # the lossy downloads follow the players
    screenshot(page, "create-composed")
    assert len(history) == before + 1
    song = history.search(LYRIC_WORD)[0]
    assert len(song.takes) == 2 and song.title == "Garden Song"
    assert page.locator("#take-3").is_hidden()

    open_tab(page, "History")
    page.locator("#history-search textarea, #history-search input").first.fill(LYRIC_WORD)
    row = page.locator("#history-table").get_by_text("Garden Song").filter(visible=True).first
    row.wait_for(timeout=TIMEOUT_MS)
    row.click()
    wait_playable(page, "#history-player", 2.0, TIMEOUT_MS)
    page.locator("#history-redecode").click()
    page.locator("#history-status").get_by_text("re-decoded").wait_for(timeout=TIMEOUT_MS)
    page.locator("#history-load").click()
    page.wait_for_function(
        "(w) => document.querySelector('#create-lyrics textarea').value.includes(w)", arg=LYRIC_WORD,
        timeout=TIMEOUT_MS,
    )
    open_tab(page, "History")
    row.wait_for(timeout=TIMEOUT_MS)  # the list is refreshed when the tab opens
    row.click()
    page.locator("#history-delete").click()
    page.locator("#history-confirm").click()
    page.locator("#history-status").get_by_text("Deleted").wait_for(timeout=TIMEOUT_MS)
    assert history.search(LYRIC_WORD) == []


def test_stop_during_compose_keeps_nothing(page, app_env) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    before = len(history)
    # Long enough on the tiny model to be stopped in the middle of its frames.
    fill_song(page, "[verse]\nstop me if you can\n[chorus]\nstill going", "rock", 150, 1)
    page.locator("#create-compose").click()
    page.locator("#create-status").get_by_text("frames").wait_for(timeout=TIMEOUT_MS)
    page.locator("#create-stop").click()
    try:
        page.locator("#create-status").get_by_text("Stopped").wait_for(timeout=TIMEOUT_MS)
    finally:
        screenshot(page, "create-stopped")
    screenshot(page, "create-stopped")
    # The job winds down on its own within a second; give it a few, then nothing may have been kept.
    page.wait_for_timeout(3000)
    assert len(history) == before
    assert not [p for p in history.songs_dir.iterdir() if p.name.startswith(".tmp-")]
    assert page.locator("#take-1").is_hidden()
