"""Style in the browser: Compose with a reference recording (embedded by the pipeline, cached under the data
folder, a copy kept with the song, and brought back by Load into Create), and a bad reference that shows one
clear error and keeps nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.studio.history import History
from tests.app.test_studio_style import reference_file

from .conftest import screenshot
from .test_compose import TIMEOUT_MS, fill_song
from .test_webapp import open_tab, wait_playable

pytestmark = pytest.mark.timeout(420)


def open_style(page) -> None:
    page.get_by_text("Style", exact=True).click()
    page.locator("#create-style-audio").wait_for()


def upload_reference(page, path: Path) -> None:
    page.locator("#create-style-audio input[type=file]").set_input_files(str(path))


def cached_embeddings(data_dir: str) -> list[Path]:
    return [p for p in (Path(data_dir) / "style-cache").rglob("*") if p.is_file()]


def test_compose_with_a_reference_recording(page, app_env, tmp_path: Path) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    before = len(history)
    cached_before = cached_embeddings(app_env["HEARTSONG_DATA_DIR"])
    fill_song(page, "[verse]\npeonies after rain\n[chorus]\nla la", "pop,piano", 2, 1)
    open_style(page)
    reference = reference_file(tmp_path, 4.0)
    upload_reference(page, reference)
    page.locator("#create-status").get_by_text("Style reference: 4.0 s").wait_for(timeout=TIMEOUT_MS)
    strength = page.locator("#create-style-strength input[type=number]")
    strength.fill("1.3")
    strength.press("Enter")
    page.locator("#create-compose").click()
    wait_playable(page, "#take-1-audio", 1.5, TIMEOUT_MS)
    screenshot(page, "create-styled")
    assert len(history) == before + 1
    song = history.search("peonies")[0]
    assert song.settings["style_strength"] == 1.3
    # The song keeps its own copy of the reference (the upload was a temp file of the page's).
    assert song.style_reference and song.style_reference.read_bytes() == reference.read_bytes()
    # The pipeline embedded the reference once and kept the embedding in the data folder's style cache.
    assert len(cached_embeddings(app_env["HEARTSONG_DATA_DIR"])) > len(cached_before)

    # Load into Create brings the style back: the kept reference (by its own name now) and the strength.
    strength.fill("0.4")
    strength.press("Enter")
    assert strength.input_value() == "0.4"
    page.get_by_text("Style", exact=True).click()  # folded away: Load opens it again to show the style
    page.locator("#create-style-audio").wait_for(state="hidden")
    open_tab(page, "History")
    page.locator("#history-search textarea, #history-search input").first.fill("peonies")
    page.locator("#history-table").get_by_text("Garden Song").filter(visible=True).first.click()
    page.locator("#history-details").get_by_text("a reference recording").wait_for(timeout=TIMEOUT_MS)
    page.locator("#history-load").click()
    page.locator("#create-style-audio").wait_for(timeout=TIMEOUT_MS)
    # Gradio shows a file's name as its stem and its extension in two elements: compare the text without breaks.
    page.wait_for_function(
        "() => document.querySelector('#create-style-audio').innerText.replace(/\\s+/g, '')"
        ".includes('style-reference.flac')", timeout=TIMEOUT_MS,
    )
    page.wait_for_function(
        "() => document.querySelector('#create-style-strength input[type=number]').value == '1.3'", timeout=TIMEOUT_MS,
    )


def test_a_bad_reference_shows_an_error_and_keeps_nothing(page, app_env, tmp_path: Path) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    before = len(history)
    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    fill_song(page, "[verse]\nthis should never be kept\n[chorus]\nno", "rock", 2, 1)
    open_style(page)
    upload_reference(page, bad)
    error = page.get_by_text("not a readable audio file").first
    error.wait_for(timeout=TIMEOUT_MS)  # said at once, on upload
    page.locator("#create-compose").click()
    page.get_by_text("not a readable audio file").nth(1).wait_for(timeout=TIMEOUT_MS)  # and again on Compose
    screenshot(page, "create-bad-reference")
    assert "Traceback" not in page.content()
    page.wait_for_timeout(1000)
    assert len(history) == before and history.search("never") == []
    assert page.locator("#take-1").is_hidden()


def test_a_reference_too_short_to_embed_says_so_on_upload(page, tmp_path: Path) -> None:
    from tests.app.test_studio_style import sixty_byte_wav

    open_style(page)
    upload_reference(page, sixty_byte_wav(tmp_path))
    page.get_by_text("too short").first.wait_for(timeout=TIMEOUT_MS)  # what `embed` says, not "0.0 s of audio"
    assert "s of audio." not in page.locator("#create-status").inner_text()
    assert "Traceback" not in page.content()
