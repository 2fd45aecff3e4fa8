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
    loaded.get_by_text("In memory: HeartMuLa rl").wait_for(timeout=TIMEOUT_MS)
    page.locator("#models-unload").click()
    page.locator("#models-status").get_by_text("Models unloaded").wait_for(timeout=TIMEOUT_MS)
    loaded.get_by_text("No models in memory").wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "models-unloaded")
    page.locator("#models-unload").click()  # again: nothing left to free, and it says so
    page.locator("#models-status").get_by_text("No models were loaded").wait_for(timeout=TIMEOUT_MS)


def test_a_download_that_cannot_happen_says_why_in_one_line(page) -> None:
    # The app runs with HF_HUB_OFFLINE=1 (tests/e2e/conftest.py): the download's plan refuses at once.
    open_tab(page, "Models & Settings")
    page.locator("#models-download").click()
    page.get_by_text("Hugging Face is offline (HF_HUB_OFFLINE=1)").first.wait_for(timeout=TIMEOUT_MS)
    page.locator("#models-status").get_by_text("rl was not downloaded.").wait_for(timeout=TIMEOUT_MS)
    assert "Traceback" not in page.content()
