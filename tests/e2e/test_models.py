"""The Models & Settings tab in the browser: what is in memory, Unload freeing it, and a download that cannot
happen (offline) saying why."""

from __future__ import annotations

import pytest

from .conftest import screenshot
from .test_compose import KEPT, TIMEOUT_MS, fill_song
from .test_webapp import open_tab

pytestmark = pytest.mark.timeout(300)


def test_unload_frees_the_models_a_song_loaded(page) -> None:
    fill_song(page, "[verse]\nmemory of a tune\n[chorus]\nla", "pop", 1, 1)
    page.locator("#create-compose").click()
    page.locator("#create-status").get_by_text(KEPT).wait_for(timeout=TIMEOUT_MS)
    open_tab(page, "Models & Settings")
    loaded = page.locator("#models-loaded")
    loaded.get_by_text("In memory: HeartMuLa hny").wait_for(timeout=TIMEOUT_MS)
    page.locator("#models-unload").click()
    page.locator("#models-status").get_by_text("Models unloaded").wait_for(timeout=TIMEOUT_MS)
    loaded.get_by_text("No models in memory").wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "models-unloaded")
    page.locator("#models-unload").click()  # again: nothing left to free, and it says so
    page.locator("#models-status").get_by_text("No models were loaded").wait_for(timeout=TIMEOUT_MS)


def table_text(page) -> str:
    return page.locator("#models-table").inner_text()


def test_a_download_that_cannot_happen_says_why_in_one_line_and_keeps_the_table(page) -> None:
    # The app runs with HF_HUB_OFFLINE=1 (tests/e2e/conftest.py): the download's plan refuses at once.
    open_tab(page, "Models & Settings")
    page.wait_for_function("() => document.querySelector('#models-table').innerText.includes('transcriptor')",
                           timeout=TIMEOUT_MS)
    before = table_text(page)
    # One folder (HEARTSONG_LM_DIR) serves every LM variant here, and the table says so.
    assert before.count("one folder serves hny, rl, base") == 3, before
    page.locator("#models-download").click()
    status = page.locator("#models-status")
    status.get_by_text("hny was not downloaded").wait_for(timeout=TIMEOUT_MS)
    assert "Hugging Face is offline (HF_HUB_OFFLINE=1)" in status.inner_text()
    screenshot(page, "models-download-failed")
    assert table_text(page) == before  # a failed download does not blank the table
    assert "Traceback" not in page.content()
