"""The page in a real browser: history, uploads and every tab's look (screenshots under tests/e2e/screenshots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.studio.history import History, NewTake

from .conftest import screenshot

pytestmark = pytest.mark.timeout(300)
SR = 48000
TIMEOUT_MS = 60_000


def keep_song(data_dir: str, title: str, lyrics: str) -> str:
    """Put a song in the app's history, the way a finished Compose does."""
    rng = np.random.default_rng(0)
    take = NewTake((rng.standard_normal((2, SR)) * 0.05).astype(np.float32), SR, 5, np.zeros((12, 8), np.int64))
    song = History(data_dir).save(title=title, description="a quiet song by the sea", lyrics=lyrics,
                                  tags="folk,calm", seconds=1, takes=[take], settings={"lm_variant": "rl"})
    return song.id


def wait_playable(page, selector: str, min_seconds: float, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until the player under `selector` has loaded audio at least `min_seconds` long (the browser decoded it).

    Gradio's waveform player keeps its <audio> element in a shadow root, so look there too.
    """
    page.wait_for_function(
        """([sel, min]) => {
            const audios = [...document.querySelectorAll(sel + ' audio')];
            document.querySelectorAll(sel + ' *').forEach(e => e.shadowRoot && audios.push(...e.shadowRoot.querySelectorAll('audio')));
            return audios.some(a => a.duration >= min);
        }""",
        arg=[selector, min_seconds], timeout=timeout_ms,
    )


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_every_tab_renders(page) -> None:
    screenshot(page, "create")
    for name, file in (("History", "history"), ("Transcribe", "transcribe"), ("Models & Settings", "models")):
        open_tab(page, name)
        if file == "models":  # the catalogue is listed, the tiny LM found in its folder
            page.locator("#models-table").get_by_text("present").filter(visible=True).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(800)
        screenshot(page, file)
    assert page.locator("#settings-openai-key input").get_attribute("type") == "password"
    assert "HeartMuLa-tiny" in page.locator("#models-table").inner_text()


def test_history_finds_loads_and_deletes_a_song(page, app_env) -> None:
    keep_song(app_env["HEARTSONG_DATA_DIR"], "Harbour Lights", "[verse]\nlanterns over the water\n[chorus]\nstay")
    keep_song(app_env["HEARTSONG_DATA_DIR"], "Paper Lanterns", "[verse]\nlanterns in the rain")
    open_tab(page, "History")
    search = page.locator("#history-search textarea, #history-search input").first
    search.fill("lantern")
    page.locator("#history-status").get_by_text("2 songs").wait_for(timeout=TIMEOUT_MS)
    row = page.locator("#history-table").get_by_text("Harbour Lights").filter(visible=True).first
    row.wait_for(timeout=TIMEOUT_MS)
    row.click()
    wait_playable(page, "#history-player", 0.5)
    screenshot(page, "history-selected")

    # A narrower search that still lists the open song leaves it open; one that drops it closes it.
    search.fill("over the water")
    page.locator("#history-status").get_by_text("1 song").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#history-details h3").get_by_text("Harbour Lights").filter(visible=True).count() == 1
    wait_playable(page, "#history-player", 0.5)
    search.fill("rain")
    page.locator("#history-details").get_by_text("Pick a song in the list").wait_for(timeout=TIMEOUT_MS)
    search.fill("lantern")
    page.locator("#history-status").get_by_text("2 songs").wait_for(timeout=TIMEOUT_MS)
    row.wait_for(timeout=TIMEOUT_MS)
    row.click()
    wait_playable(page, "#history-player", 0.5)

    page.locator("#history-load").click()
    lyrics = page.locator("#create-lyrics textarea")
    page.wait_for_function(
        "() => document.querySelector('#create-lyrics textarea').value.includes('lanterns')", timeout=TIMEOUT_MS
    )
    assert page.locator("#create-title input, #create-title textarea").first.input_value() == "Harbour Lights"
    assert not page.locator("#create-gen-lyrics input").is_checked()
    assert "lanterns over the water" in lyrics.input_value()

    open_tab(page, "History")
    row.wait_for(timeout=TIMEOUT_MS)
    row.click()
    page.locator("#history-delete").click()
    page.locator("#history-confirm").click()
    page.locator("#history-status").get_by_text("Deleted").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#history-table").get_by_text("Harbour Lights").filter(visible=True).count() == 0
    assert [song.title for song in History(app_env["HEARTSONG_DATA_DIR"]).search("lantern")] == ["Paper Lanterns"]


def test_a_corrupt_upload_shows_an_error(page, tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    open_tab(page, "Transcribe")
    page.locator("#transcribe-upload input[type=file]").set_input_files(str(bad))
    page.locator("#transcribe-status").get_by_text("not a readable audio file").wait_for(timeout=TIMEOUT_MS)
    page.get_by_test_id("toast-text").get_by_text("not a readable audio file").wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "transcribe-corrupt-upload")
    assert "Traceback" not in page.content()
