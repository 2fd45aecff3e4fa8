"""Extend and Redo from here in the browser, on the tiny checkpoints: the new songs appear under their parent in
History, keep its tokens, and say where they came from."""

from __future__ import annotations

import re

import numpy as np
import pytest

from app.studio.history import History, NewTake

from .conftest import screenshot
from .test_webapp import open_tab, wait_playable

pytestmark = pytest.mark.timeout(420)
TIMEOUT_MS = 180_000
SR = 48000


def keep_parent(data_dir: str, title: str = "Lighthouse") -> str:
    """A kept 2 s song with real tokens (25 frames of codes the codec decodes), as a finished Compose leaves it."""
    rng = np.random.default_rng(1)
    take = NewTake((rng.standard_normal((2, 2 * SR)) * 0.05).astype(np.float32), SR, 5,
                   rng.integers(0, 8192, (25, 8), dtype=np.int64))
    song = History(data_dir).save(title=title, description=f"a song about a {title.lower()}",
                                  lyrics="[verse]\nthe beam goes round", tags="folk,calm", seconds=2, takes=[take],
                                  settings={"lm_variant": "rl"})
    return song.id


def select(page, title: str) -> None:
    row = page.locator("#history-table").get_by_text(title, exact=True).filter(visible=True).first
    row.wait_for(timeout=TIMEOUT_MS)
    row.click()
    # The details' heading names the song once the selection has landed (the panel may already be open).
    page.locator("#history-details h3").get_by_text(title, exact=True).wait_for(timeout=TIMEOUT_MS)
    page.locator("#continue-box").wait_for(state="visible", timeout=TIMEOUT_MS)


def wait_kept(page, title: str) -> None:
    page.locator("#continue-status").get_by_text(f"Kept “{title}”").wait_for(timeout=TIMEOUT_MS)


def test_extend_and_redo_from_the_players_position(page, app_env) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    parent_id = keep_parent(app_env["HEARTSONG_DATA_DIR"])
    open_tab(page, "History")
    page.locator("#history-search textarea, #history-search input").first.fill("lighthouse")
    select(page, "Lighthouse")
    wait_playable(page, "#history-player", 1.5)

    # Extend by a second, with a new verse after the old one.
    page.locator("#continue-more input[type=number]").fill("1")
    page.locator("#continue-lyrics textarea").fill("[verse]\nthe ships come home")
    page.locator("#continue-extend").click()
    wait_kept(page, "Lighthouse (extended)")
    page.locator("#continue-live-audio").wait_for(state="attached", timeout=TIMEOUT_MS)  # take 1 was heard live
    (extended,) = history.children(parent_id)
    assert extended.lyrics == "[verse]\nthe beam goes round\n\n[verse]\nthe ships come home"
    old = np.load(history.get(parent_id).takes[0].tokens)
    assert np.array_equal(np.load(extended.takes[0].tokens)[:25], old)
    table = page.locator("#history-table")
    table.get_by_text("↳ Lighthouse (extended)").filter(visible=True).first.wait_for(timeout=TIMEOUT_MS)
    assert "From “Lighthouse”, take 1: extended." in page.locator("#history-details").inner_text()
    screenshot(page, "history-extended")

    # Redo the parent from the player's position (set to 0:01), two variants.
    select(page, "Lighthouse")
    wait_playable(page, "#history-player", 1.5)
    page.evaluate("""() => {
        const root = document.querySelector('#history-player');
        const audios = [...root.querySelectorAll('audio')];
        root.querySelectorAll('*').forEach(e => e.shadowRoot && audios.push(...e.shadowRoot.querySelectorAll('audio')));
        audios.forEach(a => { a.currentTime = 1.0; });
    }""")
    page.locator("#continue-use-position").click()
    page.wait_for_function("() => document.querySelector('#continue-from textarea, #continue-from input').value"
                           " === '0:01.0'", timeout=TIMEOUT_MS)
    page.locator("#continue-total input[type=number]").fill("2")
    page.locator("#continue-variants input[type=number]").fill("2")
    page.locator("#continue-redo").click()
    wait_kept(page, "Lighthouse (redone from 0:01)")
    redone = history.children(parent_id)[1]
    assert redone.parent.kind == "redo" and len(redone.takes) == 2 and redone.lyrics == "[verse]\nthe beam goes round"
    kept = round(1.0 * 12.5)
    assert all(np.array_equal(np.load(t.tokens)[:kept], old[:kept]) for t in redone.takes)
    table.get_by_text("↳ Lighthouse (redone from 0:01)").filter(visible=True).first.wait_for(timeout=TIMEOUT_MS)

    # The parent lists both, and they sit right under it in the list.
    select(page, "Lighthouse")
    details = page.locator("#history-details").inner_text()
    assert "Continued as “Lighthouse (extended)”, “Lighthouse (redone from 0:01)”." in details
    text = table.inner_text()
    parent_at = re.search(r"(^|\n)\s*Lighthouse\s*(\t|\n)", text)
    assert parent_at is not None, text
    # Newest first: the redo, then the extension, both right under their parent.
    assert parent_at.start() < text.index("↳ Lighthouse (redone from 0:01)") < text.index("↳ Lighthouse (extended)")
    screenshot(page, "history-continued")

