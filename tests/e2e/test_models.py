"""The Models & Settings tab in the browser: what is in memory, and Unload freeing it."""

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
