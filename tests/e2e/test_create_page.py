"""The Create page in the browser: examples to start from, tag suggestions from the vocabulary as the musician
types, a warning when the Length no longer fits the lyrics, labels that are not clipped on a narrow window, and
the style strength running to the engine's limit."""

from __future__ import annotations

import pytest

from .conftest import open_page, screenshot
from .test_compose import TIMEOUT_MS
from .test_write import field

pytestmark = pytest.mark.timeout(300)


def test_an_example_description_fills_the_field(page) -> None:
    page.get_by_text("a slow rainy-night jazz ballad").first.click()
    page.wait_for_function(
        "() => document.querySelector('#create-description textarea').value.includes('rainy-night jazz')",
        timeout=TIMEOUT_MS)


def test_a_shorter_length_than_the_lyrics_fit_is_warned_about(page) -> None:
    field(page, "lyrics").fill("[verse]\n" + "\n".join(f"line number {i}" for i in range(40)))
    length = page.locator("#create-seconds input[type=number]")
    length.fill("20")
    length.press("Enter")
    page.locator("#create-status").get_by_text("These lyrics have 40 sung lines").wait_for(timeout=TIMEOUT_MS)
    assert "20-second song fits about" in page.locator("#create-status").inner_text()


def test_generate_labels_are_whole_on_a_narrow_window(browser, app_url: str) -> None:
    with open_page(browser, app_url, width=700) as page:
        screenshot(page, "create-narrow")
        clipped = page.evaluate("""() => [...document.querySelectorAll('.hs-gen label span')]
            .filter((e) => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).length""")
        assert clipped == 0
        shown = page.locator(".hs-gen").filter(visible=True).first.inner_text()
        assert "generate" in shown


def test_the_style_strength_runs_from_0_to_10(page) -> None:
    page.locator("#create-style").click()
    slider = page.locator("#create-style-strength input[type=range]")
    slider.wait_for(timeout=TIMEOUT_MS)
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("0", "10")


def chips(page) -> list[str]:
    return [c.strip() for c in page.locator("#create-tag-hints label").all_inner_texts()]


def test_tag_suggestions_follow_the_typing_and_a_click_adds_the_tag(page) -> None:
    tags = field(page, "tags")
    page.locator("#create-tag-hints").get_by_text("rock", exact=True).wait_for(timeout=TIMEOUT_MS)  # genres first
    tags.press_sequentially("pop,fem", delay=30)
    page.wait_for_function("() => [...document.querySelectorAll('#create-tag-hints label')].map((l) => l.innerText.trim())"
                           ".join('|') === 'female vocal|female'", timeout=TIMEOUT_MS)
    page.locator("#create-tag-hints").get_by_text("female vocal", exact=True).click()
    page.wait_for_function("() => document.querySelector('#create-tags textarea, #create-tags input').value"
                           " === 'pop,female vocal,'", timeout=TIMEOUT_MS)
    # With genre and voice given, the next category HeartMuLa often saw is offered: timbre ("warm", "bright"...).
    page.locator("#create-tag-hints").get_by_text("warm", exact=True).wait_for(timeout=TIMEOUT_MS)
    assert "female vocal" not in chips(page) and "pop" not in chips(page)
    screenshot(page, "create-tag-suggestions")
