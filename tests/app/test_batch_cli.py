"""`python -m app batch` as a musician runs it: a subprocess with the scripted LLM server and the tiny models,
stopped with a real Ctrl-C (SIGINT) and run again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.album.manifest import MANIFEST
from app.album.runner import LOCK
from app.cli import main as app_main
from app.studio.history import History, Song
from heartmula_core.audio import read_audio
from tests.llm_server import LLMServer, Reply

from .conftest import refused_url
from .test_song_cli import tiny_env

SEA = {"description": "a calm folk song about the sea", "seconds": 2, "seed": 11}
LANTERNS = {"title": "Lanterns", "lyrics": "[verse]\nmy own words about lanterns", "tags": ["pop", "warm"],
            "seconds": 1, "variants": 2, "seed": 22}
NEON = {"description": "night drive synthwave", "lyrics": "[verse]\nneon on the wet road", "seconds": 1, "seed": 33}
SEA_WRITTEN = {"title": "Salt Roads", "lyrics": "[verse]\nsalt on the windows\n\n[chorus]\nhome by the sea",
               "tags": "folk,calm"}
NEON_WRITTEN = {"title": "Neon", "tags": "synthwave,dark"}


def write_album(tmp_path: Path, *songs: dict[str, Any] | str) -> Path:
    """album.jsonl with one line per song (a dict as JSON, a string as it is)."""
    path = tmp_path / "album.jsonl"
    path.write_text("".join((s if isinstance(s, str) else json.dumps(s)) + "\n" for s in songs), encoding="utf-8")
    return path


def batch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", "batch", "album.jsonl", "--out", "out", *args, "--env-file", os.devnull]


def run_batch(tmp_path: Path, llm_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(batch_command(*args), cwd=tmp_path, env=tiny_env(tmp_path, llm_url) | env,
                          capture_output=True, text=True, timeout=300)


def songs_by_seed(tmp_path: Path) -> dict[int, Song]:
    return {song.takes[0].seed: song for song in History(tmp_path / "data").search()}


def folders(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir())


def test_an_album_of_three_lands_in_history_and_its_folder(llm_server: LLMServer, tmp_path: Path) -> None:
    write_album(tmp_path, SEA, "", LANTERNS, NEON)  # a blank line is skipped: three songs
    llm_server.script(Reply.json(SEA_WRITTEN), Reply.json(NEON_WRITTEN))
    done = run_batch(tmp_path, llm_server.url)
    assert done.returncode == 0, done.stderr
    songs = songs_by_seed(tmp_path)
    assert sorted(songs) == [11, 22, 33]
    sea, lanterns, neon = songs[11], songs[22], songs[33]
    # The LLM wrote what each line left empty, and nothing for the full sheet.
    assert (sea.title, sea.lyrics, sea.description) == ("Salt Roads", SEA_WRITTEN["lyrics"], SEA["description"])
    assert sea.tags.startswith("folk") and sea.seconds == 2
    assert (lanterns.title, lanterns.lyrics, lanterns.tags) == ("Lanterns", LANTERNS["lyrics"], "pop,warm")
    assert len(lanterns.takes) == 2 and "llm" not in lanterns.settings
    assert (neon.title, neon.lyrics) == ("Neon", NEON["lyrics"]) and neon.tags.startswith("synthwave")
    assert len(llm_server.chat_requests) == 2
    assert "night drive synthwave" in json.dumps(llm_server.chat_requests[1].body)
    # Each song's takes and sheet are in its folder, numbered as in the album.
    assert folders(tmp_path) == ["01-salt-roads", "02-lanterns", "03-neon"]
    for name, song in zip(folders(tmp_path), (sea, lanterns, neon), strict=True):
        folder = tmp_path / "out" / name
        sheet = json.loads((folder / "sheet.json").read_text(encoding="utf-8"))
        assert sheet["history_id"] == song.id and sheet["seeds"] == [t.seed for t in song.takes]
        for take in song.takes:
            audio, rate = read_audio(folder / f"take-{take.index}.flac")
            assert rate == 48000 and audio.shape == read_audio(take.audio)[0].shape
    # Progress: plain lines (stdout is a pipe), songs done of the total, each song's phases.
    out = done.stdout.splitlines()
    assert "[0/3] 01 a calm folk song about the sea: Writing the song" in out
    assert any(line.startswith("[1/3] 02 Lanterns: Making the music") for line in out)
    assert out[-1] == "[3/3] 03 Neon: kept: 03-neon"
    assert "\r" not in done.stdout and "\x1b" not in done.stdout
    # The same command again makes nothing: every song is already kept (and the LLM is not asked). A song
    # folder deleted meanwhile is written again from History.
    shutil.rmtree(tmp_path / "out" / "02-lanterns")
    again = run_batch(tmp_path, llm_server.url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["[1/3] 01 already kept: 01-salt-roads", "[2/3] 02 already kept: 02-lanterns",
                                         "[3/3] 03 already kept: 03-neon"]
    assert len(History(tmp_path / "data")) == 3 and len(llm_server.chat_requests) == 2
    assert read_audio(tmp_path / "out" / "02-lanterns" / "take-2.flac")[0].shape == read_audio(
        lanterns.takes[1].audio)[0].shape


def test_a_failed_line_is_made_on_the_next_run_and_a_changed_line_is_a_new_song(
    llm_server: LLMServer, tmp_path: Path
) -> None:
    lanterns_again = {**LANTERNS, "variants": 1, "seed": 44}
    write_album(tmp_path, LANTERNS, SEA, lanterns_again)
    llm_server.script(Reply("junk"), Reply("more junk"))  # line 2's song fails; the album goes on
    first = run_batch(tmp_path, llm_server.url, "--parallel", "2")  # the Studio takes two songs at once
    assert first.returncode == 1
    assert "line 2 failed: " in first.stderr and "unusable JSON twice" in first.stderr
    assert "Traceback" not in first.stderr
    kept = songs_by_seed(tmp_path)
    assert sorted(kept) == [22, 44] and folders(tmp_path) == ["01-lanterns", "03-lanterns"]

    llm_server.script(Reply.json(SEA_WRITTEN))
    second = run_batch(tmp_path, llm_server.url)
    assert second.returncode == 0, second.stderr
    now = songs_by_seed(tmp_path)
    assert sorted(now) == [11, 22, 44] and {now[22].id, now[44].id} == {kept[22].id, kept[44].id}
    assert folders(tmp_path) == ["01-lanterns", "02-salt-roads", "03-lanterns"]

    # Line 3 changed (another seed): a new song, in a folder beside the old one's; lines 1 and 2 stay kept.
    write_album(tmp_path, LANTERNS, SEA, {**lanterns_again, "seed": 55})
    third = run_batch(tmp_path, llm_server.url)
    assert third.returncode == 0, third.stderr
    assert sorted(songs_by_seed(tmp_path)) == [11, 22, 44, 55]
    assert folders(tmp_path) == ["01-lanterns", "02-salt-roads", "03-lanterns", "03-lanterns-2"]
    assert len(llm_server.chat_requests) == 3


def test_ctrl_c_drops_the_song_being_made_and_the_same_command_makes_the_rest(
    llm_server: LLMServer, tmp_path: Path
) -> None:
    write_album(tmp_path, LANTERNS, SEA, NEON)
    llm_server.script(Reply.json(SEA_WRITTEN, delay_s=60))  # the LLM is still writing song 2 when Ctrl-C comes
    proc = subprocess.Popen(batch_command(), cwd=tmp_path, env=tiny_env(tmp_path, llm_server.url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(240, proc.kill)
    watchdog.start()
    try:
        seen = []
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if line.startswith("[1/3] 02 ") and "Writing the song" in line:
                break
        while llm_server.pending and proc.poll() is None:  # the LLM has the request for song 2 (and holds its answer)
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
    assert proc.returncode == 130, "".join(seen) + err
    assert "[1/3] 02 a calm folk song about the sea: stopped; nothing of it was kept" in rest.splitlines()
    assert "[1/3] stopping: the songs being made are dropped (Ctrl-C again to quit at once)" in rest.splitlines()
    assert "Run the same command again to make the other 2" in err and "Traceback" not in err
    # Song 1 is kept whole, song 2 left nothing (in History or the folder), song 3 was never started.
    assert sorted(songs_by_seed(tmp_path)) == [22]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [LOCK, "01-lanterns", MANIFEST]
    assert not list((tmp_path / "data" / "songs").glob(".tmp-*"))

    llm_server.script(Reply.json(SEA_WRITTEN), Reply.json(NEON_WRITTEN))
    again = run_batch(tmp_path, llm_server.url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == "[1/3] 01 already kept: 01-lanterns"
    songs = songs_by_seed(tmp_path)
    assert sorted(songs) == [11, 22, 33] and songs[11].title == "Salt Roads"
    assert folders(tmp_path) == ["01-lanterns", "02-salt-roads", "03-neon"]


@pytest.mark.parametrize(("lines", "expected"), [
    ([SEA, {**SEA, "seconds": 9999}], " line 2: seconds: Input should be less than or equal to 600"),
    ([SEA, "", "{oops"], " line 3: not JSON"),
    ([{"descripton": "a song"}], " line 1: unknown field 'descripton'"),
    ([{**SEA, "variants": 1.5}], " line 1: variants: Input should be a valid integer"),
    (["[1, 2]"], " line 1: a song is a JSON object ({...}), not an array"),
    ([""], ": no songs in it"),
])
def test_a_bad_line_is_one_clear_error_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[Any], expected: str
) -> None:
    album = write_album(tmp_path, *lines)
    out = tmp_path / "out"
    assert app_main(["batch", str(album), "--out", str(out), "--threads", "1", "--env-file", os.devnull]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {album}{expected}") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_wrong_options_are_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album, out = write_album(tmp_path, SEA), tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        app_main(["batch", str(album), "--out", str(out), "--parallel", "0"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "python -m app batch: error: argument --parallel: a whole number from 1 to 64, not '0'"]
    assert app_main(["batch", str(album), "--out", str(out), "--format", "aiff", "--env-file", os.devnull]) == 2
    assert capsys.readouterr().err.splitlines() == ["error: --format aiff: use one of wav, flac, mp3, ogg"]
    assert not out.exists()
    out.write_text("a file where the album folder should go", encoding="utf-8")
    assert app_main(["batch", str(album), "--out", str(out), "--env-file", os.devnull]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --out {out} is a file: name a folder for the album"]


def test_a_sheet_the_page_would_refuse_is_refused_by_its_line(tmp_path: Path) -> None:
    for lines, expected in [([SEA, {"seconds": 5}], "album.jsonl line 2: Describe the song first"),
                            ([{"title": "x", "lyrics": "la\n" * 5000}], "album.jsonl line 1: The lyrics")]:
        write_album(tmp_path, *lines)
        done = run_batch(tmp_path, refused_url())
        assert done.returncode == 2 and done.stderr.startswith(f"error: {expected}"), done.stderr
        assert len(done.stderr.splitlines()) == 1 and done.stdout == "" and not (tmp_path / "out").exists()


def test_an_llm_that_is_down_is_one_line_and_nothing_is_made(tmp_path: Path) -> None:
    write_album(tmp_path, LANTERNS, SEA)
    url = refused_url()
    done = run_batch(tmp_path, url)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: ollama at {url}: cannot connect (is Ollama running? `ollama serve` "
                                        "starts it) (line 2 needs it to write its empty fields)"]
    assert not (tmp_path / "out").exists() and len(History(tmp_path / "data")) == 0


def test_a_failure_every_song_would_share_stops_the_album_in_one_go(tmp_path: Path) -> None:
    write_album(tmp_path, LANTERNS, {**LANTERNS, "seed": 23})
    (tmp_path / "empty").mkdir()
    done = run_batch(tmp_path, refused_url(), HEARTSONG_LM_DIR=str(tmp_path / "empty"))  # no LM on this computer
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and "Traceback" not in done.stderr
    assert lines[0].startswith(f"error: the album stopped: {tmp_path / 'empty'} ") and "download" in lines[0]
    assert lines[1].startswith("0 of 2 songs are kept in out; once that is fixed, run the same command again")
    assert f"[0/2] 01 Lanterns: failed (line 1): {tmp_path / 'empty'} " in done.stdout
    assert "02 " not in done.stdout  # the second song was never started
    assert len(History(tmp_path / "data")) == 0


def test_a_rerun_in_another_format_adds_that_format_beside_the_first(tmp_path: Path) -> None:
    """The musician asked for the album as wav now: the kept song is not made again, its takes are written as wav
    from History's copy into its folder, and the flac files of the first run stay as they were."""
    write_album(tmp_path, LANTERNS)
    assert run_batch(tmp_path, refused_url()).returncode == 0  # a full sheet: no LLM needed
    folder = tmp_path / "out" / "01-lanterns"
    flac = {name: (folder / name).read_bytes() for name in ("take-1.flac", "take-2.flac")}
    wav = run_batch(tmp_path, refused_url(), "--format", "wav")
    assert wav.returncode == 0, wav.stderr
    assert wav.stdout.splitlines() == ["[1/1] 01 already kept: 01-lanterns (added take-1.wav, take-2.wav)"]
    assert sorted(p.name for p in folder.iterdir()) == ["sheet.json", "take-1.flac", "take-1.wav", "take-2.flac",
                                                          "take-2.wav"]
    assert all((folder / name).read_bytes() == data for name, data in flac.items())
    (song,) = History(tmp_path / "data").search()
    for take in song.takes:
        np.testing.assert_allclose(read_audio(folder / f"take-{take.index}.wav")[0], read_audio(take.audio)[0],
                                   atol=1e-4)  # 24-bit FLAC in History, 16-bit wav here
    entry = next(iter(json.loads((tmp_path / "out" / MANIFEST).read_text(encoding="utf-8"))["songs"].values()))
    assert sorted(entry["files"]) == sorted(p.name for p in folder.iterdir())
    (folder / "take-2.flac").unlink()  # a take deleted by hand comes back into the same folder, not a new one
    again = run_batch(tmp_path, refused_url())
    assert again.stdout.splitlines() == ["[1/1] 01 already kept: 01-lanterns (added take-2.flac)"]
    assert folders(tmp_path) == ["01-lanterns"] and len(History(tmp_path / "data")) == 1
