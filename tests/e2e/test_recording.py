"""Start from a recording in the browser, on the tiny encoder and checkpoints: upload a short recording in Create,
see it turned into notes, extend it, and find the new song in History under the recording, the recording kept
beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.studio.history import History

from .conftest import screenshot
from .test_webapp import open_tab, wait_playable

pytestmark = pytest.mark.timeout(420)
TIMEOUT_MS = 180_000


def hum(path: Path, seconds: float = 1.6, rate: int = 22_050) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 196 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32), rate)
    return path


def test_upload_a_recording_extend_it_and_find_it_in_history(page, app_env, tmp_path: Path) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    recording = hum(tmp_path / "Porch Hum.wav")
    page.locator("#recording-box").get_by_text("Start from a recording").first.click()
    page.locator("#recording-file input[type=file]").set_input_files(str(recording))
    page.locator("#recording-status").get_by_text("Recording: 1.6 s of audio.").wait_for(timeout=TIMEOUT_MS)
    page.locator("#recording-tags input, #recording-tags textarea").first.fill("folk,calm")
    page.locator("#recording-lyrics textarea").fill("[verse]\nhumming on the porch")
    page.locator("#recording-encode").click()
    page.locator("#recording-status").get_by_text("Kept “Porch Hum (recording)” in History").wait_for(timeout=TIMEOUT_MS)
    assert "21 frames of notes" in page.locator("#recording-status").inner_text()  # int(1.6 x 12.5) + 1
    wait_playable(page, "#recording-player", 1.5, TIMEOUT_MS)
    screenshot(page, "recording-kept")

    # Extend it by a second with a new line after the recording's, one take.
    page.locator("#create-variants input[type=number]").fill("1")
    page.locator("#recording-more input[type=number]").fill("1")
    page.locator("#recording-new-lyrics textarea").fill("[chorus]\nthe night comes in")
    page.locator("#recording-compose").click()
    page.locator("#create-status").get_by_text("Kept “Porch Hum (recording) (extended)” with 1 take in History.") \
        .wait_for(timeout=TIMEOUT_MS)
    wait_playable(page, "#take-1-audio", 2.0, TIMEOUT_MS)
    screenshot(page, "recording-extended")

    (kept,) = [s for s in history.search("porch") if s.parent is None]
    (child,) = history.children(kept.id)
    assert kept.settings["origin"] == "recording" and kept.recording.read_bytes() == recording.read_bytes()
    assert child.recording.read_bytes() == recording.read_bytes()  # kept beside the new song too
    assert child.lyrics == "[verse]\nhumming on the porch\n\n[chorus]\nthe night comes in"
    assert np.array_equal(np.load(child.takes[0].tokens)[:21], np.load(kept.takes[0].tokens))

    open_tab(page, "History")
    page.locator("#history-search textarea, #history-search input").first.fill("porch")
    table = page.locator("#history-table")
    row = table.get_by_text("↳ Porch Hum (recording) (extended)").filter(visible=True).first
    row.wait_for(timeout=TIMEOUT_MS)
    row.click()
    details = page.locator("#history-details")
    details.get_by_text("From “Porch Hum (recording)”, take 1: extended.").wait_for(timeout=TIMEOUT_MS)
    assert "Made from a recording, kept with the song as recording.wav" in details.inner_text()
    wait_playable(page, "#history-player", 2.0, TIMEOUT_MS)
    wait_playable(page, "#history-source", 1.5, TIMEOUT_MS)  # the recording itself, beside the song
    assert "The recording it was made from" in page.locator("#history-source").inner_text()
    assert page.locator("#continue-total input").input_value() == "2.68"  # the length as a musician reads it
    screenshot(page, "recording-in-history")


def test_a_silent_recording_is_one_line_on_upload_and_on_encode(page, app_env, tmp_path: Path) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    before = len(history)
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros((24_000, 2), np.float32), 24_000)
    page.locator("#recording-box").get_by_text("Start from a recording").first.click()
    page.locator("#recording-file input[type=file]").set_input_files(str(silent))
    page.get_by_text("silence.wav: the recording is silent").first.wait_for(timeout=TIMEOUT_MS)  # at once
    page.locator("#recording-tags input, #recording-tags textarea").first.fill("ambient")
    page.locator("#recording-encode").click()
    page.get_by_text("silence.wav: the recording is silent").nth(1).wait_for(timeout=TIMEOUT_MS)  # and on encode
    assert "Traceback" not in page.content() and page.locator("#recording-next").is_hidden()
    assert len(history) == before
