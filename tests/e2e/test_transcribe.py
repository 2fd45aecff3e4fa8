"""Transcribe in the browser with a tiny random HeartTranscriptor: upload, the phase on the status line while the
lyrics box keeps its text (no spinner over blanked panels), lyrics appear, send them to Create; a bad upload after
a good one never leaves "Ready to transcribe" beside its error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heartmula_core.audio import write_audio

from .conftest import screenshot
from .test_webapp import open_tab
from .test_write import field

pytestmark = pytest.mark.timeout(300)
TIMEOUT_MS = 120_000
BEFORE = "words from before the transcription"

# Every text the status line showed, and whether the lyrics box was ever blanked or covered by Gradio's progress.
WATCH = """() => {
    window.__texts = []; window.__blanked = false; window.__overlay = false;
    const status = document.querySelector('#transcribe-status');
    const lyrics = document.querySelector('#transcribe-lyrics textarea');
    new MutationObserver(() => {
        window.__texts.push(status.innerText);
        if (!lyrics.value) window.__blanked = true;
        if (document.querySelector('#transcribe-lyrics .progress-text, #transcribe-lyrics .eta-bar')) window.__overlay = true;
    }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def noise(path: Path, seconds: float) -> Path:
    rng = np.random.default_rng(0)
    write_audio(path, (rng.standard_normal((2, int(seconds * 16000))) * 0.2).astype(np.float32), 16000)
    return path


def test_upload_transcribe_and_send_the_lyrics_to_create(page, tmp_path: Path) -> None:
    song = noise(tmp_path / "my song.flac", 3)
    field(page, "lyrics").fill("[verse]\nlyrics that Send must replace")

    open_tab(page, "Transcribe")
    lyrics = page.locator("#transcribe-lyrics textarea")
    lyrics.fill(BEFORE)
    page.locator("#transcribe-upload input[type=file]").set_input_files(str(song))
    page.locator("#transcribe-status").get_by_text("Ready to transcribe: 3.0 s").wait_for(timeout=TIMEOUT_MS)
    page.evaluate(WATCH)
    page.locator("#transcribe-run").click()
    # The random model hears noise: it writes some words, or says it heard none; either way the box is new.
    page.locator("#transcribe-status").get_by_text("Send to Create").or_(
        page.locator("#transcribe-status").get_by_text("No words were heard")
    ).wait_for(timeout=TIMEOUT_MS)
    texts, overlay = page.evaluate("() => [window.__texts, window.__overlay]")
    assert any(t.startswith("Listening for the words") for t in texts), set(texts)
    assert not overlay
    heard = lyrics.input_value()
    assert heard != BEFORE
    screenshot(page, "transcribe-done")
    assert "Traceback" not in page.content()

    page.locator("#transcribe-send").click()
    page.wait_for_function(
        "(text) => document.querySelector('#create-lyrics textarea').value === text", arg=heard, timeout=TIMEOUT_MS
    )
    assert page.get_by_role("tab", name="Create").get_attribute("aria-selected") == "true"
    assert not page.locator("#create-gen-lyrics input").is_checked()  # the musician's lyrics now, not the LLM's
    # The lyrics Create had are put aside, not lost.
    assert "Your lyrics were put aside" in page.locator("#create-status").inner_text()
    page.locator("#create-undo-load").click()
    page.wait_for_function("() => document.querySelector('#create-lyrics textarea').value"
                           " === '[verse]\\nlyrics that Send must replace'", timeout=TIMEOUT_MS)


def test_a_bad_upload_after_a_good_one_says_so_and_turns_the_button_off(page, tmp_path: Path) -> None:
    open_tab(page, "Transcribe")
    status, run = page.locator("#transcribe-status"), page.locator("#transcribe-run")
    upload = page.locator("#transcribe-upload input[type=file]")
    upload.set_input_files(str(noise(tmp_path / "good.flac", 2)))
    status.get_by_text("Ready to transcribe: 2.0 s").wait_for(timeout=TIMEOUT_MS)
    assert run.is_enabled()

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    page.locator("#transcribe-upload button[aria-label='Clear']").click()  # a new song replaces the old one
    page.wait_for_function("() => !document.querySelector('#transcribe-status').innerText.includes('Ready')",
                           timeout=TIMEOUT_MS)
    upload.set_input_files(str(bad))
    status.get_by_text("Not usable").wait_for(timeout=TIMEOUT_MS)
    assert "not a readable audio file" in status.inner_text()
    assert "Ready" not in status.inner_text()
    assert run.is_disabled()
    screenshot(page, "transcribe-bad-after-good")
