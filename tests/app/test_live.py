"""Live takes: a WAV stream that readers get from its start, growing as pieces come, ending with the take."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.settings import load_settings
from app.studio.jobs import Listening, Progress, TakeAudio
from app.studio.live import FirstTakeTee, LiveTake, LiveTakes, to_pcm16, wav_header
from app.studio.service import Studio
from app.ui.live_route import live_url, routes

SR = 48000
PCM_LSB = 2 / 32767  # 16-bit rounding, and players divide by 32768 where we multiplied by 32767


def piece(seed: int, n: int = 4800) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((2, n)) * 0.2).astype(np.float32)


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """What a player hears from a live stream: libsndfile reads the unknown-length header to the end."""
    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return audio.T, rate


def test_a_reader_hears_every_piece_in_order_from_the_start() -> None:
    take = LiveTake(SR)
    pieces = [piece(i) for i in range(3)]
    take.feed(pieces[0])
    early = take.wav_stream()
    got = [next(early), next(early)]  # the header and the first piece, before the rest exists
    for p in pieces[1:]:
        take.feed(p)
    take.end()
    got += list(early)
    late = b"".join(take.wav_stream())  # a reader that starts after the end gets the same bytes
    assert b"".join(got) == late
    audio, rate = decode_wav(late)
    assert rate == SR and audio.shape == (2, 3 * 4800)
    np.testing.assert_allclose(audio, np.concatenate(pieces, axis=1), atol=PCM_LSB)


def test_a_waiting_reader_gets_each_piece_when_it_comes_and_stops_at_the_end() -> None:
    take = LiveTake(SR)
    stream = take.wav_stream()
    assert next(stream) == wav_header(SR, 2)
    arrived = threading.Event()
    received: list[bytes] = []

    def read() -> None:
        for chunk in stream:
            received.append(chunk)
            arrived.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert not arrived.wait(0.3)  # nothing yet: the reader waits
    take.feed(piece(1))
    assert arrived.wait(5) and received == [to_pcm16(piece(1))]
    take.end()
    reader.join(5)
    assert not reader.is_alive()
    assert take.frames == 4800


def test_pieces_are_clipped_at_full_scale_and_must_be_stereo() -> None:
    loud = np.array([[2.0, -2.0, 0.5]], np.float32).repeat(2, axis=0)
    assert np.frombuffer(to_pcm16(loud), "<i2").tolist() == [32767, 32767, -32767, -32767, 16384, 16384]
    with pytest.raises(ValueError, match=r"\[2, samples\]"):
        LiveTake(SR).feed(np.zeros(10, np.float32))


def test_each_session_keeps_only_its_latest_take() -> None:
    takes = LiveTakes()
    first_token, first = takes.open("tab-a", SR)
    other_token, _ = takes.open("tab-b", SR)
    second_token, _ = takes.open("tab-a", SR)
    assert len({first_token, other_token, second_token}) == 3 and len(first_token) >= 20
    assert first.ended and takes.get(first_token) is None  # replaced: its readers finish
    assert takes.get(second_token) is not None and takes.get(other_token) is not None
    takes.close("tab-a")
    assert takes.get(second_token) is None and len(takes) == 1


def test_only_the_newest_takes_are_kept_whatever_the_sessions() -> None:
    takes = LiveTakes(limit=2)
    opened = [takes.open(f"tab-{i}", SR) for i in range(3)]  # three page loads, three sessions
    assert len(takes) == 2
    assert takes.get(opened[0][0]) is None and opened[0][1].ended  # the oldest went, its readers finish
    assert all(takes.get(token) is not None for token, _ in opened[1:])
    takes.close("tab-0")  # a session whose take already went: nothing to do
    assert len(takes) == 2


def test_the_tee_streams_only_the_first_take_and_says_where_once_it_has_audio() -> None:
    takes = LiveTakes()
    events: list = []
    tee = FirstTakeTee(takes, "tab", events.append)
    tee(Progress("decoding"))
    tee(TakeAudio(1, piece(9), SR, final=True))  # another take: passed on, not streamed
    assert takes.get("") is None and len(takes) == 0
    tee(TakeAudio(0, piece(1), SR, final=False))
    tee(TakeAudio(0, piece(2), SR, final=True))
    listening = [e for e in events if isinstance(e, Listening)]
    assert len(listening) == 1 and events.index(listening[0]) == 2  # after the first piece was in
    live = takes.get(listening[0].token)
    assert live is not None and live.ended and live.frames == 9600
    assert [type(e).__name__ for e in events] == ["Progress", "TakeAudio", "Listening", "TakeAudio", "TakeAudio"]
    tee.abandon()
    assert takes.get(listening[0].token) is None


def test_an_abandoned_tee_opens_nothing_and_leaves_a_newer_take_alone() -> None:
    """A Stop answered before the job's thread winds down: the tee is abandoned from the page's side first."""
    takes = LiveTakes()
    events: list = []
    stopped = FirstTakeTee(takes, "tab")  # emit given later, as the Studio does
    stopped.emit = events.append
    stopped.abandon()
    stopped(TakeAudio(0, piece(1), SR, final=False))  # the job's thread had not noticed the Stop yet
    assert len(takes) == 0 and not any(isinstance(e, Listening) for e in events)

    old = FirstTakeTee(takes, "tab", events.append)
    old(TakeAudio(0, piece(1), SR, final=False))
    newer_token, _ = takes.open("tab", SR)  # the musician pressed Compose again in the same tab
    old.abandon()
    old.abandon()  # twice (page and job) is fine
    assert takes.get(newer_token) is not None and len(takes) == 1


def test_the_route_serves_a_live_take_and_404s_an_unknown_one(tmp_path: Path) -> None:
    studio = Studio(load_settings(Path("/dev/null"), data_dir=tmp_path / "data"))
    token, take = studio.live.open("tab", SR)
    take.feed(piece(3))
    take.end()
    client = TestClient(Starlette(routes=routes(studio)))
    response = client.get("/" + live_url(token))
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    audio, rate = decode_wav(response.content)
    np.testing.assert_allclose(audio, piece(3), atol=PCM_LSB)
    missing = client.get("/" + live_url("not-a-token"))
    assert missing.status_code == 404 and "History" in missing.text
