"""Downloads while a take is rendered again: every export made during a stream of renders of the same take
succeeds and holds one whole generation of the take's audio (the render's switch waits for an export that has
started, and an export started after the switch reads the new generation), never "file not found". The file an
export names stays until the take is rendered again."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import soundfile as sf

from app.studio.history import History, NewTake
from app.studio.song_files import Decoded

SR = 48000
RENDERS = 80
LEVELS = [0.1 + 0.005 * n for n in range(RENDERS + 1)]  # each generation of the take is one constant level


def test_exports_during_renders_never_miss_their_file(tmp_path: Path) -> None:
    history = History(tmp_path)
    audio = np.full((2, SR // 8), LEVELS[0], np.float32)
    song = history.save(title="Song", description="", lyrics="", tags="pop", seconds=0.125,
                        takes=[NewTake(audio, SR, 1, np.zeros((3, 8), np.int64))])
    failures: list[BaseException] = []
    heard: list[float] = []
    rendering = threading.Event()

    def render() -> None:
        rendering.set()
        try:
            for level in LEVELS[1:]:
                history.replace_take_audio(song.id, 1, Decoded(np.full((2, SR // 8), level, np.float32), SR))
        finally:
            rendering.clear()

    def download() -> None:
        rendering.wait()
        while rendering.is_set():
            try:
                path = history.export(song.id, 1, "wav")
            except BaseException as exc:  # the assertion below lists them
                failures.append(exc)
                return
            try:
                with open(path, "rb") as file:  # what the take route then sends
                    samples, _ = sf.read(file, always_2d=True)
            except FileNotFoundError:  # allowed only once a newer render has replaced that generation
                assert history.get(song.id).takes[0].audio.with_suffix(".wav") != path
                continue
            assert np.ptp(samples) < 1e-3, "an export mixed two generations of the take"
            heard.append(float(samples[0, 0]))

    threads = [threading.Thread(target=render)] + [threading.Thread(target=download) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert heard and all(min(abs(level - h) for level in LEVELS) < 1e-3 for h in heard)
    assert np.load(history.get(song.id).takes[0].tokens).shape == (3, 8)
