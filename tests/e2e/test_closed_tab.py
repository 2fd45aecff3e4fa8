"""A song started in a tab that is then closed is still made and kept in History (only Stop drops a song)."""

from __future__ import annotations

import time

import pytest

from app.studio.history import History

from .test_compose import fill_song

pytestmark = pytest.mark.timeout(420)
TIMEOUT_MS = 180_000
KEEP_S = 300  # generous: the suite shares two cores


def test_closing_the_tab_during_compose_keeps_the_song(browser, app_url: str, app_env) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="Create").wait_for()
    assert "even if you close this tab" in page.locator("#create-keep-hint").inner_text()
    fill_song(page, "[verse]\nlilacs after the tab closed\n[chorus]\nla la", "pop,happy", 12, 1)
    page.locator("#create-compose").click()
    page.locator("#create-status :text('frames')").first.wait_for(timeout=TIMEOUT_MS)
    context.close()  # the musician closes the tab while the music is being made

    deadline = time.monotonic() + KEEP_S
    while not history.search("lilacs") and time.monotonic() < deadline:
        time.sleep(0.5)
    (song,) = history.search("lilacs")
    assert len(song.takes) == 1
