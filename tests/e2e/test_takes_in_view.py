"""After Compose at 1400x1000, the finished takes are where the eye is: under Compose and its status line, Take 1
whole in the window, no live player left beside it, and a short song (one codec window, so its first audio is
the whole take) starts playing in Take 1 as soon as it exists."""

from __future__ import annotations

import pytest

from .conftest import open_page, screenshot
from .test_compose import KEPT, TIMEOUT_MS, fill_song
from .test_streaming import TAKE_AUDIO

pytestmark = pytest.mark.timeout(300)

# The furthest Take 1's player got, sampled every 50 ms from the click on (it may play to its end before a check).
PLAYED = """(takeAudio) => {
    window.__played = 0;
    window.__playTimer = setInterval(() => {
        const take = takeAudio();
        if (take) window.__played = Math.max(window.__played, take.currentTime);
    }, 50);
}"""


def in_window(page, selector: str) -> dict[str, float]:
    """The shown element's top and bottom in the window, and the window's height."""
    return page.evaluate("""(sel) => {
        const e = [...document.querySelectorAll(sel)].find((x) => x.offsetParent !== null);
        const r = e.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, height: innerHeight};
    }""", selector)


def test_a_short_song_s_takes_are_in_view_and_take_one_plays_at_once(browser, app_url: str) -> None:
    with open_page(browser, app_url, width=1400, height=1000) as page:
        fill_song(page, "[verse]\nsunflowers in the morning\n[chorus]\nla la la", "pop,happy", 3, 2)
        page.evaluate("window.scrollTo(0, 0)")
        page.evaluate(f"(() => {{ const takeAudio = {TAKE_AUDIO}; ({PLAYED})(takeAudio); }})()")
        page.locator("#create-compose").click()
        page.locator("#create-status").get_by_text(KEPT).wait_for(timeout=TIMEOUT_MS)
        page.locator("#take-1-ogg").wait_for(timeout=TIMEOUT_MS)  # the last of its downloads
        page.wait_for_function("() => window.__played > 0.5", timeout=TIMEOUT_MS)  # it played by itself
        page.wait_for_timeout(1000)  # a smooth scroll that is still going
        screenshot(page, "create-takes-in-view")

        take, status = in_window(page, "#take-1"), in_window(page, "#create-status")
        assert 0 <= take["top"] and take["bottom"] <= take["height"], take  # the whole player and its downloads
        assert 0 <= status["top"] and status["bottom"] <= status["height"], status
        assert page.locator("#create-live-audio").count() == 0  # no second Take 1
        assert page.locator("#take-2").filter(visible=True).first.is_visible()
