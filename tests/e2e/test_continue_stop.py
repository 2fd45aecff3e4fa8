"""Stop during an extension started from History, in the browser on the tiny checkpoints: the kept part was
heard live before any new frame was made, and after Stop nothing new is kept; the parent is as it was."""

from __future__ import annotations

import numpy as np
import pytest

from app.studio.history import History, NewTake

from .conftest import screenshot
from .test_continue import TIMEOUT_MS, select
from .test_webapp import open_tab

pytestmark = pytest.mark.timeout(420)
SR = 48000
FRAMES = 400  # 32 s: codec window 0 (frames 0..371) lies wholly inside, so its audio is reused, not decoded


def keep_long_parent(data_dir: str) -> str:
    """A kept 32 s song with real tokens, as a finished Compose leaves it (its audio: quiet noise)."""
    rng = np.random.default_rng(2)
    take = NewTake((rng.standard_normal((2, FRAMES * SR * 2 // 25)) * 0.05).astype(np.float32), SR, 7,
                   rng.integers(0, 8192, (FRAMES, 8), dtype=np.int64))
    song = History(data_dir).save(title="Harbour", description="a song about a harbour",
                                  lyrics="[verse]\nthe boats lie still", tags="folk,calm", seconds=32, takes=[take],
                                  settings={"lm_variant": "rl"})
    return song.id


def test_stopping_an_extension_keeps_nothing(page, app_env) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    parent_id = keep_long_parent(app_env["HEARTSONG_DATA_DIR"])
    before = history.get(parent_id)
    open_tab(page, "History")
    page.locator("#history-search textarea, #history-search input").first.fill("harbour")
    select(page, "Harbour")

    # Two minutes more: long enough to be stopped while the LM makes the new part.
    page.locator("#continue-more input[type=number]").fill("120")
    page.locator("#continue-extend").click()
    page.locator("#continue-status").get_by_text("frames").wait_for(timeout=TIMEOUT_MS)
    # The kept part is known: its live player came before the first new frame's progress.
    assert page.locator("#continue-live-audio").count() == 1
    screenshot(page, "history-extending")
    page.locator("#continue-stop").click()
    page.locator("#continue-status").get_by_text("Stopped; nothing was kept.").wait_for(timeout=TIMEOUT_MS)
    page.locator("#continue-live-audio").wait_for(state="detached", timeout=TIMEOUT_MS)  # nothing of it plays on

    assert history.children(parent_id) == []
    assert [s.id for s in history.search("harbour")] == [parent_id]
    assert history.get(parent_id).takes == before.takes  # the parent is never changed
    table = page.locator("#history-table").inner_text()
    assert "Harbour (extended)" not in table
