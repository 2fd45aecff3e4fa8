"""Two browser tabs composing at once: one song at a time on the device, the second told its place, both kept."""

from __future__ import annotations

import pytest

from app.studio.history import History

from .conftest import screenshot
from .test_compose import KEPT, TIMEOUT_MS, fill_song
from .test_webapp import wait_playable

pytestmark = pytest.mark.timeout(420)


def test_two_tabs_compose_at_once_and_both_songs_are_kept(browser, app_url, app_env) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    before = len(history)
    contexts = [browser.new_context(viewport={"width": 1280, "height": 1000}) for _ in range(2)]
    try:
        first, second = (context.new_page() for context in contexts)
        for page in (first, second):
            page.goto(app_url)
            page.get_by_role("tab", name="Create").wait_for()
        # Long enough on the tiny model that the second tab asks while the first still holds the device.
        fill_song(first, "[verse]\nthe first tab sings of tulips\n[chorus]\nla", "pop", 12, 1)
        fill_song(second, "[verse]\nthe second tab sings of daisies\n[chorus]\nla", "folk", 2, 1)
        first.locator("#create-compose").click()
        first.locator("#create-status").get_by_text("frames").wait_for(timeout=TIMEOUT_MS)
        second.locator("#create-compose").click()
        second.locator("#create-status").get_by_text("1 song ahead of yours").wait_for(timeout=TIMEOUT_MS)
        screenshot(second, "create-waiting-in-queue")
        for page, seconds in ((first, 10.0), (second, 1.5)):
            page.locator("#create-status").get_by_text(KEPT).wait_for(timeout=TIMEOUT_MS)
            wait_playable(page, "#take-1-audio", seconds, TIMEOUT_MS)
        assert len(history) == before + 2
        assert history.search("tulips") and history.search("daisies")
        # The first asked first and was made first: the queue kept the order.
        assert history.search("tulips")[0].created <= history.search("daisies")[0].created
    finally:
        for context in contexts:
            context.close()
