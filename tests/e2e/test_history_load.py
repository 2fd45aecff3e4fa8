"""History in the browser: a song's lyrics are shown; "Load into Create" over a draft puts the draft aside and
"Undo load" brings it back; rendering a take's audio again shows its phase on the status line (not Gradio's
spinner over blanked panels) and leaves the song's details in place."""

from __future__ import annotations

import pytest

from .conftest import screenshot
from .test_webapp import TIMEOUT_MS, keep_song, open_tab, wait_playable
from .test_write import field

pytestmark = pytest.mark.timeout(300)

# Every text the History status line and details showed, and whether Gradio's own progress overlay ever covered
# the details or the player, from now on (a MutationObserver misses nothing, however short it was shown).
WATCH = """() => {
    window.__texts = []; window.__blanked = false; window.__overlay = false;
    const status = document.querySelector('#history-status'), details = document.querySelector('#history-details');
    const look = () => {
        window.__texts.push(status.innerText);
        if (!details.innerText.trim()) window.__blanked = true;
        if (document.querySelector('#history-details .eta-bar, #history-player .eta-bar, '
                                   + '#history-details .progress-text, #history-player .progress-text'))
            window.__overlay = true;
    };
    new MutationObserver(look).observe(document.querySelector('#component-0') || document.body,
                                       {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def pick(page, title: str) -> None:
    open_tab(page, "History")
    page.locator("#history-search textarea, #history-search input").first.fill(title.split()[0])
    row = page.locator("#history-table").get_by_text(title).filter(visible=True).first
    row.wait_for(timeout=TIMEOUT_MS)
    row.click()


def test_load_over_a_draft_can_be_undone(page, app_env) -> None:
    keep_song(app_env["HEARTSONG_DATA_DIR"], "Lighthouse Keeper", "[verse]\nthe beam goes round\n[chorus]\nhome")
    field(page, "title").fill("My Draft")
    field(page, "lyrics").fill("[verse]\nwords I do not want to lose")
    page.locator("#create-style").click()
    page.locator("#create-style-text textarea, #create-style-text input").first.fill("dusty tape echo")

    pick(page, "Lighthouse Keeper")
    page.locator("#history-details").get_by_text("the beam goes round").wait_for(timeout=TIMEOUT_MS)  # its lyrics
    page.locator("#history-load").click()
    page.wait_for_function("() => document.querySelector('#create-lyrics textarea').value.includes('beam')",
                           timeout=TIMEOUT_MS)
    assert "Your draft was put aside" in page.locator("#create-status").inner_text()
    undo = page.locator("#create-undo-load")
    assert undo.is_visible()
    screenshot(page, "create-undo-load")

    undo.click()
    page.wait_for_function("() => document.querySelector('#create-lyrics textarea').value.includes('not want')",
                           timeout=TIMEOUT_MS)
    assert field(page, "title").input_value() == "My Draft"
    assert page.locator("#create-style-text textarea, #create-style-text input").first.input_value() == "dusty tape echo"
    assert undo.is_hidden()

    # Loading onto an empty page (or onto the song the last load put there) has nothing to put aside.
    for name in ("description", "title", "lyrics", "tags"):
        field(page, name).fill("")
    page.locator("#create-style-text textarea, #create-style-text input").first.fill("")
    pick(page, "Lighthouse Keeper")
    page.locator("#history-load").click()
    page.locator("#create-status").get_by_text("Loaded “Lighthouse Keeper”").wait_for(timeout=TIMEOUT_MS)
    assert "put aside" not in page.locator("#create-status").inner_text()
    assert undo.is_hidden()


def test_rendering_again_shows_its_phase_and_keeps_the_panels(page, app_env) -> None:
    keep_song(app_env["HEARTSONG_DATA_DIR"], "Tidal Render", "[verse]\nwaves on the stones")
    pick(page, "Tidal Render")
    wait_playable(page, "#history-player", 0.5)
    button = page.locator("#history-redecode")
    assert button.inner_text().strip() == "Render the audio again (same notes)"
    page.evaluate(WATCH)
    button.click()
    page.locator("#history-status").get_by_text("rendered again from its saved notes").wait_for(timeout=TIMEOUT_MS)
    texts, blanked, overlay = page.evaluate("() => [window.__texts, window.__blanked, window.__overlay]")
    assert any(t.startswith("Rendering the take's audio again from its notes") for t in texts), set(texts)
    assert not blanked and not overlay
    wait_playable(page, "#history-player", 0.5)
    assert "Traceback" not in page.content()
